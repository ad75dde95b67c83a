"""Kills (issue 24, item 1): a search SIGKILLed at ten random moments and resumed after each ends with
every trial that completed before a kill intact, the right count, and a study, trials.csv and
front.csv that agree; the same for a multi-fidelity search, whose rungs continue checkpoints."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time

import optuna
import pandas as pd
import pytest

from autopeft.pareto import non_dominated
from autopeft.search import record
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator

SCRIPT = """
import sys
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
# asha asks its GP between short rungs: longer "training" keeps most kills inside a trial's training
evaluator = SyntheticEvaluator(delay_s=0.6 if sys.argv[4] == "asha" else 0.25, fail_every=7)
if sys.argv[3] == "new":
    fast = {"pool": 32, "restarts": 1, "max_evals": 100, "mc_samples": 16} if sys.argv[4] == "asha" else {}
    search("tweet_sentiment", space=sys.argv[2], strategy=sys.argv[4], trials=int(sys.argv[5]), out=sys.argv[1],
           seed=11, evaluator=evaluator, keep_weights="none", strategy_options=fast)
else:
    search(resume=sys.argv[1], evaluator=evaluator)
"""
KILLS = 10


def _completed(storage: str) -> dict[int, tuple]:
    try:
        study = optuna.load_study(study_name="autopeft", storage=storage)
    except KeyError:  # killed before the study was created
        return {}
    return {t.number: (t.values, t.user_attrs.get("candidate"), t.user_attrs.get("status"))
            for t in study.trials if t.state in (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.FAIL)
            and t.user_attrs.get("status") in ("complete", "failed")}


def _written_since(path, t: float) -> bool:
    """Whether the search wrote `path` (its run.json, at every start and resume) after time `t`."""
    try:
        return path.stat().st_mtime >= t
    except FileNotFoundError:
        return False


def study_trials(storage: str) -> list:
    return optuna.load_study(study_name="autopeft", storage=storage).trials


@pytest.mark.parametrize("strategy, target", [("random", 40), ("asha", 6)])
def test_ten_kills_lose_nothing(tmp_path, small_space, strategy, target):
    run_dir, rng = tmp_path / "run", random.Random(7)
    storage = f"sqlite:///{run_dir}/study.db"
    kept: dict[int, tuple] = {}
    progressed = 0  # runs that finished trials before their kill: the kills landed inside the search
    for kill in range(KILLS):
        mode = "resume" if (run_dir / "run.json").exists() else "new"
        started = time.time()
        proc = subprocess.Popen([sys.executable, "-c", SCRIPT, str(run_dir), small_space, mode, strategy,
                                 str(target)])
        deadline = time.monotonic() + 120
        while not _written_since(run_dir / "run.json", started) and proc.poll() is None:  # past the imports
            assert time.monotonic() < deadline
            time.sleep(0.02)
        time.sleep(rng.uniform(0.5, 5.0))  # then a random moment of the search
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = _completed(storage)
        assert {n: now[n] for n in kept} == kept, f"kill {kill} changed a finished trial"
        progressed += len(now) > len(kept)
        kept = now
    res = search(resume=run_dir, evaluator=SyntheticEvaluator(fail_every=7))
    final = _completed(storage)
    assert {n: final[n] for n in kept} == kept
    # the count: trained trials (complete or failed) reach the target, by cost for asha's rungs
    rows = res.trials[res.trials["kind"] == "search"]
    trained = rows[rows["state"].isin(["complete", "failed"])]
    cost = trained["cost"].fillna(1.0).astype(float).sum()
    assert target <= cost < target + 1
    # the kills landed inside the search, some inside a trial's training (marked, then re-run)
    interrupted = [t for t in study_trials(storage) if record.status_of(t) == "interrupted"]
    assert progressed >= 3 and len(interrupted) >= 1, (progressed, len(interrupted))
    reruns = {t.user_attrs.get("rerun_of") for t in study_trials(storage)}
    assert {t.number for t in interrupted if t.user_attrs.get("candidate")} <= reruns
    # the study, trials.csv and front.csv agree
    csv = pd.read_csv(run_dir / "trials.csv")
    study = optuna.load_study(study_name="autopeft", storage=storage)
    assert sorted(csv[csv["kind"] == "search"]["trial"].astype(int)) == sorted(t.number for t in study.trials)
    done = csv[(csv["kind"] == "search") & (csv["state"] == "complete") & (csv["fidelity"] == "quick")]
    front = pd.read_csv(run_dir / "front.csv")
    expected = done[non_dominated(done["score"], done["peft_params"])]
    assert sorted(front["trial"].astype(int)) == sorted(expected["trial"].astype(int))
    if strategy == "asha":  # a climb after a kill continued the checkpoint of a trial from before it
        climbs = trained[trained["continues"].notna()]
        assert len(climbs) and set(climbs["continues"].astype(int)) <= set(final)
