"""Choosing the trial to export: --trial, --best [--budget], --knee; the trial weight file format."""

from __future__ import annotations

from pathlib import Path

import pytest

from autopeft.errors import UserError
from autopeft.export import rundir
from autopeft.export.weights import load_trial_weights, save_trial_weights
from tests.helpers.runs import LABELS, LORA, trained


def _run(rows: list[tuple[int, float, int]]) -> rundir.RunDir:
    trials = [{"trial": str(t), "state": "complete", "kind": "search", "score": str(s), "peft_params": str(p),
               "candidate": "{}"} for t, s, p in rows]
    return rundir.RunDir(path=Path("run"), run={}, trials=trials, front=trials)


def test_best_with_and_without_budget():
    run = _run([(0, 0.60, 1_000), (1, 0.70, 5_000), (2, 0.72, 50_000)])
    assert rundir.best(run)["trial"] == "2"
    assert rundir.best(run, budget=10_000)["trial"] == "1"
    with pytest.raises(UserError, match="fits the budget"):
        rundir.best(run, budget=10)


def test_equal_scores_go_to_fewer_parameters_then_to_the_lower_dev_loss():
    run = _run([(0, 0.59, 2_048), (1, 0.59, 2_048), (2, 0.59, 4_096), (3, 0.50, 100)])
    assert rundir.best(run)["trial"] == "0"  # no losses recorded (older runs): the first listed, as before
    for row, loss in zip(run.trials, ("1.45", "1.32", "0.90", "0.10"), strict=True):
        row["dev_loss"] = loss
    assert rundir.best(run)["trial"] == "1"  # the lower loss among the smallest; never the larger trial 2
    run.trials[1]["dev_loss"] = "nan"  # an unknown loss loses the tie
    assert rundir.best(run)["trial"] == "0"


def test_knee_is_where_gains_flatten():
    run = _run([(0, 0.50, 100), (1, 0.70, 1_000), (2, 0.71, 10_000), (3, 0.715, 100_000)])
    assert rundir.knee(run)["trial"] == "1"


def test_failed_and_baseline_rows_are_not_chosen():
    run = _run([(0, 0.6, 100)])
    run.trials += [{"trial": "1", "state": "failed", "score": "", "peft_params": "10", "candidate": "{}"},
                   {"trial": "b0", "state": "complete", "kind": "baseline", "score": "0.9", "peft_params": "10",
                    "candidate": "{}"}]
    run.front = []
    assert rundir.best(run)["trial"] == "0"


def test_trial_weights_roundtrip(tmp_path, backbone):
    model, peft = trained(backbone, LORA, seed=0)
    path = save_trial_weights(tmp_path / "weights" / "trial-3.safetensors", peft,
                              {"backbone": backbone, "task": "toy", "id2label": LABELS, "trial": 3})
    tw = load_trial_weights(path)
    assert tw.candidate == peft.candidate and tw.id2label == LABELS and tw.extra == {"trial": 3}
    assert tw.num_labels == 3 and tw.task == "toy" and tw.backbone == backbone
    assert set(tw.tensors) == set(peft.state_dict())
    assert not list(tmp_path.rglob("*.tmp"))
