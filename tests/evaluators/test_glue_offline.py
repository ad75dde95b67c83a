"""GLUE loads offline from a directory the test writes (TSV as distributed, and save_to_disk)."""

from pathlib import Path

import datasets
import pytest

from autopeft.errors import UserError
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.tasks.glue import load_glue

LABELS = ["entailment", "neutral", "contradiction"]
HEADER = ["index", "promptID", "pairID", "genre", "sentence1_binary_parse", "sentence2_binary_parse",
          "sentence1_parse", "sentence2_parse", "sentence1", "sentence2"]


def _mnli_rows(n: int, offset: int) -> list[list[str]]:
    rows = []
    for i in range(n):
        # quotes inside sentences, as in the real files
        rows.append([str(i), "0", "0", "fiction", "(", "(", "(", "(", f'premise "{i + offset}', f"hypothesis {i}",
                     LABELS[i % 3], LABELS[i % 3]])
    return rows


def write_mnli_tsv(folder: Path) -> Path:
    """MNLI/ as in the GLUE download: train.tsv, dev_matched.tsv, dev_mismatched.tsv."""
    task = folder / "MNLI"
    task.mkdir(parents=True)
    for name, n, header_extra in (("train", 90, ["label1", "gold_label"]), ("dev_matched", 12, None),
                                  ("dev_mismatched", 15, None)):
        header = HEADER + (header_extra or ["label1", "gold_label"])
        lines = ["\t".join(header)] + ["\t".join(r) for r in _mnli_rows(n, 1000 if "dev" in name else 0)]
        (task / f"{name}.tsv").write_text("\n".join(lines) + "\n")
    return task


def test_mnli_tsv_loads_with_matched_and_mismatched(tmp_path):
    write_mnli_tsv(tmp_path)
    data = load_glue("mnli", tmp_path)
    sizes = data.sizes()
    assert sizes["validation_matched"] == 12 and sizes["validation_mismatched"] == 15
    assert sizes["train"] + sizes["dev"] == 90 and sizes["dev"] == 14  # 15% held out for selection
    assert data.spec.report_splits == ("validation_matched", "validation_mismatched")
    first = data.splits["validation_matched"][0]
    assert first == {"text": 'premise "1000', "text_pair": "hypothesis 0", "label": 0}
    assert sorted(set(data.splits["train"]["label"])) == [0, 1, 2]


def test_mnli_save_to_disk_loads(tmp_path):
    label = datasets.ClassLabel(names=LABELS)
    def split(n):
        return datasets.Dataset.from_dict(
            {"premise": [f"p{i}" for i in range(n)], "hypothesis": [f"h{i}" for i in range(n)],
             "label": [i % 3 for i in range(n)], "idx": list(range(n))},
            features=datasets.Features({"premise": datasets.Value("string"), "hypothesis": datasets.Value("string"),
                                        "label": label, "idx": datasets.Value("int32")}))
    dd = datasets.DatasetDict({"train": split(60), "validation_matched": split(9), "validation_mismatched": split(7),
                               "test_matched": split(3)})
    dd.save_to_disk(str(tmp_path / "mnli"))
    data = load_glue("mnli", tmp_path)
    assert data.sizes()["validation_mismatched"] == 7 and data.sizes()["train"] == 51
    assert data.splits["validation_matched"][2] == {"text": "p2", "text_pair": "h2", "label": 2}


def test_cola_headerless_tsv_and_stsb_regression(tmp_path):
    cola = tmp_path / "CoLA"
    cola.mkdir()
    for name in ("train", "dev"):
        rows = [f"src\t{i % 2}\t*\tsentence number {i}" for i in range(40)]
        (cola / f"{name}.tsv").write_text("\n".join(rows) + "\n")
    data = load_glue("cola", tmp_path)
    assert data.spec.metric == "mcc" and data.sizes()["validation"] == 40
    assert data.splits["validation"][1] == {"text": "sentence number 1", "label": 1}
    sts = tmp_path / "STS-B"
    sts.mkdir()
    for name in ("train", "dev"):
        rows = ["index\tgenre\tfilename\tyear\told_index\tsource1\tsource2\tsentence1\tsentence2\tscore"]
        rows += [f"{i}\tg\tf\t2012\t{i}\ts\ts\tleft {i}\tright {i}\t{i % 5 + 0.5}" for i in range(30)]
        (sts / f"{name}.tsv").write_text("\n".join(rows) + "\n")
    data = load_glue("stsb", tmp_path)
    assert data.spec.problem_type == "regression" and data.splits["validation"][0]["label"] == pytest.approx(0.5)


def test_no_hub_and_no_data_dir_is_one_line_naming_data_dir(monkeypatch):
    from autopeft.evaluators import hub

    monkeypatch.setattr(hub, "hub_reachable", lambda timeout=3.0: False)
    monkeypatch.setattr("autopeft.evaluators.tasks.glue.hub_reachable", lambda timeout=3.0: False)
    with pytest.raises(UserError) as err:
        load_glue("mnli")
    message = str(err.value)
    assert "\n" not in message and "cannot be reached" in message and "--data-dir" in message


def test_data_dir_without_the_task_and_unknown_task(tmp_path):
    with pytest.raises(UserError, match="no rte data found"):
        load_glue("rte", tmp_path)
    with pytest.raises(UserError, match="unknown task"):
        task_ref("mnli-typo")
