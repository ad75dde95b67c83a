"""Custom CSV tasks (one or two text columns, classification or regression) and their bad-input errors."""

import sys

import pytest

from autopeft.evaluators.tasks import task_ref
from tests.helpers.data import sentiment_rows, write_csv


def test_one_text_column_classification(sentiment_csv):
    data = task_ref(str(sentiment_csv)).load()
    assert data.spec.kind == "text" and data.spec.label_names == ("0", "1") and not data.spec.pair
    assert set(data.splits) == {"train", "dev", "test"}
    assert sum(data.sizes().values()) == data.info["kept"]


def test_two_text_columns_and_string_labels(tmp_path):
    rows = [(f"premise {i}", f"hypothesis {i % 7}", ["yes", "no", "maybe"][i % 3]) for i in range(120)]
    path = write_csv(tmp_path / "nli.csv", ["p", "h", "y"], rows)
    data = task_ref(str(path), text_cols="p,h", label_col="y").load()
    assert data.spec.pair and data.spec.label_names == ("maybe", "no", "yes")
    row = data.splits["train"][0]
    assert set(row) == {"text", "text_pair", "label"}


def test_float_labels_make_a_regression_task(tmp_path):
    rows = [(f"a {i}", f"b {i}", i / 10 + 0.05) for i in range(100)]
    path = write_csv(tmp_path / "sim.csv", ["s1", "s2", "score"], rows)
    data = task_ref(str(path), text_cols="s1,s2", label_col="score").load()
    assert data.spec.problem_type == "regression" and data.spec.metric == "pearson_spearman"
    assert data.spec.num_labels == 1


def _cli(monkeypatch, capsys, *args):
    from autopeft.cli import main

    monkeypatch.setattr(sys, "argv", ["autopeft", *args])
    with pytest.raises(SystemExit) as exit_info:
        main()
    return exit_info.value.code, capsys.readouterr().err


def _bad_files(tmp_path):
    write_csv(tmp_path / "nolabel.csv", ["text", "target"], sentiment_rows(50))
    (tmp_path / "empty.csv").write_text("")
    write_csv(tmp_path / "oneclass.csv", ["text", "label"], [(f"t {i}", 1) for i in range(50)])
    (tmp_path / "binary.parquet").write_bytes(b"\x00\x01not parquet at all\xff" * 20)
    return {
        "nolabel.csv": "no column 'label'",
        "empty.csv": "is empty",
        "oneclass.csv": "single class",
        "binary.parquet": "cannot read",
    }


@pytest.mark.parametrize("name", ["nolabel.csv", "empty.csv", "oneclass.csv", "binary.parquet"])
def test_bad_task_files_give_one_line_and_exit_2(name, tmp_path, tiny_bert, monkeypatch, capsys):
    expected = _bad_files(tmp_path)[name]
    code, err = _cli(monkeypatch, capsys, "train", "lora-r8", "--task", str(tmp_path / name), "--model", tiny_bert,
                     "--steps", "1", "--out", str(tmp_path / "out"))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and expected in lines[0], err
