"""A search killed with SIGKILL mid-trial and resumed: nothing completed is lost, the count is met."""

import signal
import sqlite3
import subprocess
import sys

import optuna

from autopeft.search import record
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
from tests.helpers.data import completed_trials
from tests.helpers.kill import run_and_kill

SCRIPT = """
import sys
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
search("tweet_sentiment", space=sys.argv[2], strategy=sys.argv[3], trials=10, out=sys.argv[1], seed=3,
       evaluator=SyntheticEvaluator(delay_s=0.4), keep_weights="none")
"""


def _running(run_dir):
    """Trials RUNNING in the study with their candidate recorded, i.e. training (read with sqlite3:
    no Optuna storage in the polling loop)."""
    try:
        with sqlite3.connect(f"file:{run_dir / 'study.db'}?mode=ro", uri=True, timeout=1) as db:
            return db.execute("SELECT count(*) FROM trials t JOIN trial_user_attributes a ON a.trial_id = t.trial_id "
                              "WHERE t.state = 'RUNNING' AND a.key = 'candidate'").fetchone()[0]
    except sqlite3.Error:
        return 0


def _kill_mid_search(run_dir, space, strategy):
    # after 3 completed trials, wait for the next one to be inside its 0.4 s of "training"
    code = run_and_kill([sys.executable, "-c", SCRIPT, str(run_dir), space, strategy],
                        lambda: completed_trials(run_dir) >= 3 and bool(_running(run_dir)))
    assert code == -signal.SIGKILL


def test_sigkill_then_resume(tmp_path, small_space):
    run_dir = tmp_path / "run"
    _kill_mid_search(run_dir, small_space, "mobo")
    storage = f"sqlite:///{run_dir}/study.db"
    before = {t.number: (t.values, t.user_attrs["candidate"])
              for t in optuna.load_study(study_name="autopeft", storage=storage).trials
              if t.state == optuna.trial.TrialState.COMPLETE}
    running = [t.number for t in optuna.load_study(study_name="autopeft", storage=storage).trials
               if t.state == optuna.trial.TrialState.RUNNING]
    assert len(before) >= 3 and running, "killed mid-trial: one trial was left RUNNING"

    res = search(resume=run_dir, evaluator=SyntheticEvaluator())
    study = optuna.load_study(study_name="autopeft", storage=storage)
    after = {t.number: t for t in study.trials}
    # every completed trial kept as it was
    for number, (values, cand) in before.items():
        assert after[number].values == values and after[number].user_attrs["candidate"] == cand
    # the interrupted trial was marked and run again
    for number in running:
        assert record.status_of(after[number]) == "interrupted" and after[number].state.name == "FAIL"
        assert record.reason_of(after[number]) == record.INTERRUPTED_REASON
        reruns = [t for t in study.trials if t.user_attrs.get("rerun_of") == number]
        assert len(reruns) == 1 and reruns[0].user_attrs["candidate"] == after[number].user_attrs["candidate"]
    searched = res.trials[res.trials["kind"] == "search"]  # (the final challenge's trainings come after)
    assert searched["state"].isin(["complete", "failed"]).sum() == 10
    assert res.info["resumed"] and res.info["status"] == "finished"
    # no candidate trained twice by the search
    done = searched[searched["state"] == "complete"]
    assert done["candidate"].is_unique


def test_a_trial_killed_while_it_opened_is_marked_and_not_rerun(tmp_path, small_space):
    """A kill between Optuna's `ask` and the trial's `candidate` attribute (written last) leaves a
    RUNNING trial with part of its record: resume marks it interrupted and does not re-run it."""
    run_dir = tmp_path / "run"
    search("tweet_sentiment", space=small_space, strategy="random", trials=3, out=run_dir,
           evaluator=SyntheticEvaluator(), keep_weights="none")
    study = optuna.load_study(study_name="autopeft", storage=f"sqlite:///{run_dir}/study.db")
    half = study.ask()
    half.set_user_attr("status", "running")
    half.set_user_attr("strategy", "random")
    res = search(resume=run_dir, trials=5, evaluator=SyntheticEvaluator())
    trials = {t.number: t for t in optuna.load_study(study_name="autopeft", storage=f"sqlite:///{run_dir}/study.db").trials}
    assert record.status_of(trials[half.number]) == "interrupted"
    assert not any(t.user_attrs.get("rerun_of") == half.number for t in trials.values())
    assert (res.trials["state"] == "complete").sum() == 5


def test_resume_can_extend_the_trial_count(tmp_path, small_space):
    run_dir = tmp_path / "run"
    search("tweet_sentiment", space=small_space, strategy="random", trials=3, out=run_dir,
           evaluator=SyntheticEvaluator(), keep_weights="none")
    res = search(resume=run_dir, trials=5, evaluator=SyntheticEvaluator())
    assert (res.trials["state"] == "complete").sum() == 5


def test_a_run_directory_another_search_is_writing_is_refused(tmp_path, small_space):
    """While one process holds the run directory, a second resume is one clear error and changes
    nothing; once the holder is gone (however it ended) the resume goes ahead."""
    import pytest

    from autopeft.errors import UserError
    from autopeft.search.lock import run_dir_lock

    run_dir = tmp_path / "run"
    search("tweet_sentiment", space=small_space, strategy="random", trials=2, out=run_dir,
           evaluator=SyntheticEvaluator(), keep_weights="none")
    holder = subprocess.Popen([sys.executable, "-c", f"""
import time
from autopeft.search.lock import run_dir_lock
with run_dir_lock({str(run_dir)!r}):
    print("held", flush=True)
    time.sleep(60)
"""], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        before = (run_dir / "trials.csv").read_text()
        with pytest.raises(UserError, match=f"being written by another search \\(pid {holder.pid}\\)"):
            search(resume=run_dir, trials=4, evaluator=SyntheticEvaluator())
        assert (run_dir / "trials.csv").read_text() == before
    finally:
        holder.kill()
        holder.wait()
    res = search(resume=run_dir, trials=4, evaluator=SyntheticEvaluator())
    assert (res.trials["state"] == "complete").sum() == 4
    with run_dir_lock(run_dir):  # and the finished search let go of it
        pass
