"""`autopeft train` end to end on a tiny BERT: seeds, result.json, a candidate file, bad input."""

import json
import sys

import pytest

KEYS = {"status", "metric", "score", "scores", "peft_params", "head_params", "steps", "wall_s", "peak_mem_mb"}


def _main(monkeypatch, *args):
    from autopeft.cli import main

    monkeypatch.setattr(sys, "argv", ["autopeft", *args])
    try:
        main()
    except SystemExit as exc:
        return exc.code
    return 0


def test_train_baseline_over_two_seeds_writes_result_json(tmp_path, tiny_bert, sentiment_csv, monkeypatch, capsys):
    out = tmp_path / "out"
    code = _main(monkeypatch, "train", "lora-r8", "--task", str(sentiment_csv), "--model", tiny_bert,
                 "--fidelity", "steps=3,eval=40", "--seeds", "1,2", "--out", str(out), "--report")
    assert code == 0, capsys.readouterr().err
    result = json.loads((out / "result.json").read_text())
    assert KEYS <= set(result)
    assert result["status"] == "ok" and len(result["scores"]) == 2 and result["steps"] == 3
    assert result["score"] == pytest.approx(sum(result["scores"]) / 2)
    assert set(result["reports"]) == {"test"}
    assert "±" in capsys.readouterr().out


def test_predictions_reproduce_every_recorded_score(tmp_path, tiny_bert, sentiment_csv, monkeypatch, capsys):
    import pandas as pd

    args = ["train", "lora-r8", "--task", str(sentiment_csv), "--model", tiny_bert, "--fidelity", "steps=3,eval=40",
            "--seeds", "1,2", "--report"]
    assert _main(monkeypatch, *args, "--out", str(tmp_path / "plain")) == 0, capsys.readouterr().err
    assert not (tmp_path / "plain" / "predictions.csv.gz").exists()  # only when asked
    assert _main(monkeypatch, *args, "--out", str(tmp_path / "o"), "--predictions") == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    preds = pd.read_csv(tmp_path / "o" / "predictions.csv.gz")
    assert set(preds["split"]) == {"dev", "test"}
    for run in result["runs"]:
        mine = preds[preds["seed"] == run["seed"]]
        dev, test = mine[mine["split"] == "dev"], mine[mine["split"] == "test"]
        assert len(dev) == 40 and list(dev["example"]) == list(range(40))  # the fidelity's dev subset
        assert (dev["label"] == dev["prediction"]).mean() == pytest.approx(run["score"])
        assert (test["label"] == test["prediction"]).mean() == pytest.approx(run["reports"]["test"]["accuracy"])
    # the same examples in the same order for every seed, so two candidates' files pair row by row
    by_seed = [g[["split", "example", "label"]].reset_index(drop=True) for _, g in preds.groupby("seed")]
    assert by_seed[0].equals(by_seed[1])
    # the plain run trained the same models: its scores are the ones the predictions reproduce
    assert json.loads((tmp_path / "plain" / "result.json").read_text())["scores"] == result["scores"]


def test_train_candidate_file(tmp_path, tiny_bert, sentiment_csv, monkeypatch, capsys):
    cand = {"layers": [{"bitfit": {"q": 1}}, {"lora": {"v": 2}}]}
    path = tmp_path / "cand.json"
    path.write_text(json.dumps(cand))
    code = _main(monkeypatch, "train", str(path), "--task", str(sentiment_csv), "--model", tiny_bert,
                 "--steps", "2", "--out", str(tmp_path / "o"))
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert result["peft_params"] == 32 + 2 * (32 + 32)  # the q bias of layer 0; rank-2 LoRA on v of layer 1


def test_train_adalora_within_a_budget(tmp_path, tiny_bert, sentiment_csv, monkeypatch, capsys):
    code = _main(monkeypatch, "train", "adalora", "--budget", "2000", "--task", str(sentiment_csv), "--model",
                 tiny_bert, "--fidelity", "steps=12,eval=40", "--out", str(tmp_path / "o"), "--report")
    assert code == 0, capsys.readouterr().err
    result = json.loads((tmp_path / "o" / "result.json").read_text())
    assert result["recipe"]["method"] == "adalora" and result["recipe"]["target_params"] == 2000
    assert 0 < result["peft_params"] <= 2000 and "lora" in json.dumps(result["candidate"])
    assert set(result["reports"]) == {"test"}


@pytest.mark.parametrize("args, expected", [
    (["nonsense-baseline"], "neither a file nor a baseline"),
    (["adalora"], "needs --budget"),
    (["lora-r8", "--budget", "1%"], "autopeft train adalora` only"),
    (["lora-r8", "--seeds", "a,b"], "--seeds"),
    (["lora-r8", "--fidelity", "warp"], "unknown fidelity"),
])
def test_bad_arguments_are_one_line(args, expected, tiny_bert, sentiment_csv, monkeypatch, capsys):
    code = _main(monkeypatch, "train", *args, "--task", str(sentiment_csv), "--model", tiny_bert)
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and expected in err[0]
