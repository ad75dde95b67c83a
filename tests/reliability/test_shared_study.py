"""Concurrency (issue 24, item 5): two searches sharing one study through a storage URL never train
the same candidate twice and lose nothing; the claim and recovery rules behind it (search/sharing.py)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import optuna
import pandas as pd
import pytest
from optuna.trial import TrialState

from autopeft.export.rundir import read_run
from autopeft.search import record, sharing
from autopeft.search.lock import run_dir_lock

SCRIPT = """
import sys
from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator
fast = {"pool": 32, "restarts": 1, "max_evals": 100, "mc_samples": 16} if sys.argv[4] == "mobo" else {}
search("tweet_sentiment", space=sys.argv[2], strategy=sys.argv[4], trials=12, out=sys.argv[1], seed=3,
       storage=sys.argv[3], evaluator=SyntheticEvaluator(delay_s=0.15, keep_state=True, fail_every=9),
       keep_weights="all", strategy_options=fast)
"""
TARGET = 12


@pytest.fixture(scope="module")
def postgres():
    """A PostgreSQL server of Debian's package, started for these tests on a Unix socket (skipped
    where the server or the psycopg2 driver is missing); its URL."""
    pytest.importorskip("psycopg2")
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        pytest.skip("no PostgreSQL server (Debian's postgresql package) on this machine")
    bin_dir = found[-1].parent
    root = Path(tempfile.mkdtemp(prefix="autopeft-pg-"))
    as_user: list[str] = []
    if os.geteuid() == 0:  # the server refuses to run as root: run it as the package's own user
        shutil.chown(root, "postgres")
        as_user = ["runuser", "-u", "postgres", "--"]
    data, port = root / "data", 5433
    subprocess.run([*as_user, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "autopeft"],
                   check=True, capture_output=True)
    subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-w", "-l", str(root / "log"),
                    "-o", f"-k {root} -c listen_addresses='' -p {port}", "start"], check=True, capture_output=True)
    try:
        yield f"postgresql+psycopg2://autopeft@/postgres?host={root}&port={port}"
    finally:
        subprocess.run([*as_user, str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize("kind, strategy", [("sqlite", "random"), ("sqlite", "mobo"), ("postgres", "random")])
def test_two_searches_sharing_a_study_train_each_candidate_once(tmp_path, small_space, request, kind, strategy):
    # the same seed: apart, both searches would train the very same candidates in the same order
    # (test_concurrency.py holds that), so every one of them is a collision to avoid
    storage = f"sqlite:///{tmp_path / 'shared.db'}" if kind == "sqlite" else request.getfixturevalue("postgres")
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, str(tmp_path / name), small_space, storage, strategy])
             for name in ("one", "two")]
    assert [p.wait(timeout=300) for p in procs] == [0, 0]
    trials = optuna.load_study(study_name=record.STUDY, storage=storage).trials
    assert not [t.number for t in trials if t.state in (TrialState.RUNNING, TrialState.WAITING)]
    trained = [t for t in trials if record.status_of(t) in record.COUNTED]
    keys = [(t.user_attrs["candidate"], t.user_attrs["fidelity"]) for t in trained]
    assert len(keys) == len(set(keys)), "a candidate was trained twice"
    # the target is the study's: met, overshot by at most the one trial the other search had running
    assert TARGET <= len(trained) <= TARGET + 1
    owners = {sharing.owner_dir(t) for t in trained}
    assert owners == {(tmp_path / "one").resolve(), (tmp_path / "two").resolve()}, "both searches trained"
    # nothing is lost: the search that ended last holds every result in its record (the other one
    # waited for what ran elsewhere when it reached the target, not for a trial opened after that),
    # and exports from either run directory find every kept weight file, wherever it was trained
    frames = {name: pd.read_csv(tmp_path / name / "trials.csv") for name in ("one", "two")}
    last = max(frames, key=lambda name: (tmp_path / name / "trials.csv").stat().st_mtime)
    here = frames[last][frames[last]["trial"].astype(str).isin([str(t.number) for t in trained])]  # f<n>: str
    assert len(here) == len(trained) and set(here["state"]) <= {"complete", "failed"}
    # the final challenge (the default after mobo's baselines-first start) is trained once for both,
    # and each search's record holds its results
    finals = [f[(f["kind"] == "final") & f["state"].isin(["complete", "failed"])] for f in frames.values()]
    if strategy == "mobo":
        assert all(len(f) == 2 for f in finals) and finals[0]["trial"].tolist() == finals[1]["trial"].tolist()
    else:
        assert not any(len(f) for f in finals)  # random trains no baseline: nothing to challenge with
    for name, df in frames.items():
        assert len(df[df["state"].isin(["complete", "failed"])]) >= len(trained) - 1
        run = read_run(tmp_path / name)
        for number in df[df["state"] == "complete"]["trial"]:
            assert run.weights_path(str(number)).is_file(), (name, number)


def _open(study: optuna.Study, owner: str | None, candidate: str = '{"c": 1}', fidelity: str = "quick",
          with_candidate: bool = True) -> optuna.trial.Trial:
    trial = study.ask()
    if owner is not None:
        trial.set_user_attr("owner", owner)
    trial.set_user_attr("fidelity", fidelity)
    if with_candidate:
        trial.set_user_attr("candidate", candidate)
    return trial


@pytest.fixture()
def study(tmp_path):
    return record.open_study(f"sqlite:///{tmp_path / 's.db'}")


def test_a_claim_yields_to_a_live_search_and_only_to_it(tmp_path, study):
    me, other = sharing.owner_of(tmp_path / "me"), sharing.owner_of(tmp_path / "other")
    (tmp_path / "other").mkdir()
    first = _open(study, other)
    mine = _open(study, me)
    with run_dir_lock(tmp_path / "other"):  # the other search runs
        assert sharing.claim(study, mine.number, me) == first.number
        assert sharing.claim(study, first.number, other) is None  # the lower number goes ahead
        assert sharing.claim(study, _open(study, me, fidelity="standard").number, me) is None
        assert sharing.claim(study, _open(study, me, candidate='{"c": 2}').number, me) is None
    # negative controls: the other search stopped (no lock held): its running trial holds nothing
    assert sharing.claim(study, mine.number, me) is None
    study.tell(first, [0.5, 10.0])  # once it has a result, that result holds the candidate
    assert sharing.claim(study, mine.number, me) == first.number


def test_an_interrupted_trial_holds_nothing_and_a_failed_one_does(tmp_path, study):
    me, other = sharing.owner_of(tmp_path / "me"), sharing.owner_of(tmp_path / "other")
    interrupted = _open(study, other)
    interrupted.set_user_attr("status", "running")
    study.tell(interrupted, state=TrialState.FAIL)
    assert sharing.claim(study, _open(study, me).number, me) is None
    failed = _open(study, other, candidate='{"c": 3}')
    failed.set_user_attr("status", "failed")
    study.tell(failed, state=TrialState.FAIL)
    assert sharing.claim(study, _open(study, me, candidate='{"c": 3}').number, me) == failed.number
    # a search's own earlier trial of the same candidate is its strategy's choice, never a conflict
    assert sharing.claim(study, _open(study, other, candidate='{"c": 3}').number, other) is None
    # nor is another recipe (AdaLoRA's target) from the same start
    recipe = _open(study, me, candidate='{"c": 3}')
    recipe.set_user_attr("recipe", "target=2")
    assert sharing.claim(study, recipe.number, me) is None


def test_a_claim_waits_for_a_trial_still_being_opened(tmp_path, study):
    me, other = sharing.owner_of(tmp_path / "me"), sharing.owner_of(tmp_path / "other")
    (tmp_path / "other").mkdir()
    opening = _open(study, other, with_candidate=False)
    mine = _open(study, me)
    with run_dir_lock(tmp_path / "other"):
        assert sharing.claim(study, mine.number, me, wait_s=0) is None  # negative control: no wait, no sight
        writer = threading.Timer(0.3, lambda: opening.set_user_attr("candidate", '{"c": 1}'))
        writer.start()
        start = time.monotonic()
        assert sharing.claim(study, mine.number, me) == opening.number
        assert time.monotonic() - start >= 0.25
        writer.join()


def test_a_starting_search_interrupts_only_trials_whose_search_is_gone(tmp_path, study):
    me, other, dead = (sharing.owner_of(tmp_path / n) for n in ("me", "other", "dead"))
    for n in ("me", "other", "dead"):
        (tmp_path / n).mkdir()
    with run_dir_lock(tmp_path / "dead"):
        pass  # a search ran there and ended: its lock file exists, nobody holds it
    mine, live, left, legacy = _open(study, me), _open(study, other), _open(study, dead), _open(study, None)
    elsewhere = _open(study, '{"host": "another-host", "run_dir": "/x"}')
    with run_dir_lock(tmp_path / "other"), run_dir_lock(tmp_path / "me"):
        record.interrupt(study, lambda t: sharing.gone(t, me))
    states = {t.number: t.state for t in study.get_trials()}
    assert states[mine.number] == states[left.number] == states[legacy.number] == TrialState.FAIL
    assert states[live.number] == states[elsewhere.number] == TrialState.RUNNING


def test_a_starting_search_leaves_alone_a_trial_another_is_opening(tmp_path, study):
    # the race CI met: search two started between search one's ask() and its first attribute, took
    # the ownerless trial for a killed search's and failed it; search one then crashed writing to it
    me, other = sharing.owner_of(tmp_path / "me"), sharing.owner_of(tmp_path / "other")
    (tmp_path / "other").mkdir()
    with run_dir_lock(tmp_path / "other"):
        opening = study.ask()  # search two asked for it; its owner is written 0.3 s later
        writer = threading.Timer(0.3, lambda: opening.set_user_attr("owner", other))
        writer.start()
        start = time.monotonic()
        record.interrupt(study, lambda t: sharing.gone(t, me), sharing.settled(study))
        writer.join()
        assert time.monotonic() - start >= 0.25
        assert _state(study, opening.number) == TrialState.RUNNING
        opening.set_user_attr("candidate", '{"c": 1}')  # and search two goes on with it
        # negative control: without the wait the trial is taken for a killed search's
        racing = study.ask()
        record.interrupt(study, lambda t: sharing.gone(t, me), sharing.settled(study, wait_s=0))
        assert _state(study, racing.number) == TrialState.FAIL
        assert _state(study, opening.number) == TrialState.RUNNING
    # a trial that never gets an owner (killed while it opened) is interrupted after the wait
    orphan = study.ask()
    start = time.monotonic()
    record.interrupt(study, lambda t: sharing.gone(t, me), sharing.settled(study, wait_s=0.2))
    assert time.monotonic() - start >= 0.2
    assert _state(study, orphan.number) == TrialState.FAIL


def _state(study: optuna.Study, number: int) -> TrialState:
    return next(t.state for t in study.get_trials() if t.number == number)


def test_kept_in_points_at_the_search_that_trained_it(tmp_path, study):
    other = tmp_path / "other"
    t = _open(study, sharing.owner_of(other))
    assert sharing.kept_in(study, t.number, tmp_path / "me") == [tmp_path / "me", Path(other).resolve()]
    own = _open(study, sharing.owner_of(tmp_path / "me"))
    assert sharing.kept_in(study, own.number, tmp_path / "me") == [tmp_path / "me"]


def test_another_hosts_trial_is_gone_once_its_heartbeat_is_stale(tmp_path, study, monkeypatch):
    me = sharing.owner_of(tmp_path / "me")
    remote = _open(study, '{"host": "another-host", "run_dir": "/x"}')
    frozen = lambda: next(t for t in study.get_trials() if t.number == remote.number)  # noqa: E731
    assert not sharing.gone(frozen(), me)  # just started there
    now = time.time()
    assert sharing.stale(frozen(), now + sharing.STALE_S + 1)  # never marked alive since: its search died
    remote.set_user_attr("heartbeat", now + sharing.STALE_S)
    assert not sharing.stale(frozen(), now + sharing.STALE_S + 1)  # marked alive lately
    # a search's Heartbeat marks the trials it runs, and stops with the search
    mine = _open(study, me)
    with sharing.Heartbeat(lambda: [mine], every_s=0.05):
        time.sleep(0.3)
    beat = next(t for t in study.get_trials() if t.number == mine.number).user_attrs["heartbeat"]
    assert time.time() - beat < 1.0
    time.sleep(0.2)
    assert next(t for t in study.get_trials() if t.number == mine.number).user_attrs["heartbeat"] == beat


def test_a_proposal_whose_new_trial_was_failed_meanwhile_is_opened_again(tmp_path, study, monkeypatch):
    # what the race left a search with: its trial failed by another between ask() and its attributes
    asked, failing = study.ask, [0]

    def ask():
        trial = asked()
        if trial.number in failing:
            study.tell(trial.number, state=TrialState.FAIL)
        return trial

    monkeypatch.setattr(study, "ask", ask)
    attrs = {"owner": sharing.owner_of(tmp_path / "me"), "candidate": '{"c": 1}'}
    trial = record.create_running(study, {"g": 1}, None, attrs)
    assert trial.number == 1 and _state(study, 1) == TrialState.RUNNING
    assert next(t for t in study.get_trials() if t.number == 1).user_attrs["candidate"] == '{"c": 1}'
    # negative control: failed every time, the proposal gives up after REOPENS more tries, with the error
    failing[:] = range(2, 2 + record.REOPENS + 1)
    with pytest.raises(optuna.exceptions.UpdateFinishedTrialError):
        record.create_running(study, None, None, attrs)
    assert len(study.get_trials()) == 2 + record.REOPENS + 1
