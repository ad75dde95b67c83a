"""Searches that share one study (several `autopeft search --storage URL` at once): who runs what.

Every trial records its `owner` (the host and run directory of the search that opened it) before
any other attribute. A search that starts marks interrupted only the RUNNING trials whose owner is
gone: its own (it is starting, so they were left by a killed run), trials from before owners were
recorded, trials of another run directory on this host whose lock (search/lock.py) nobody holds,
and trials of another host that its search has not marked alive for STALE_S (`Heartbeat`). A trial
of a live search is left to it. `ask()` creates a trial before its owner can be written, so a trial
with no owner may be one a live search is opening this instant: `settled` waits OPENING_S for it
to get one before such a trial is taken for a killed search's.

Two searches may propose the same candidate at the same moment. Optuna's public API has no unique
constraint on attributes, so the claim goes by trial number, which the storage assigns atomically:
once opened, a trial yields (it is recorded `duplicate`, never trained) to any lower-numbered trial
of another search with the same candidate, fidelity and recipe that is complete, failed, or running
under a live owner. A search's own trials are its strategy's business (a re-run, a retrain of an
allocation AdaLoRA found, are deliberate). A
lower-numbered trial still being opened (no candidate yet) is waited for, briefly, so that of two
racing searches exactly one goes ahead.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path

import optuna
from optuna.trial import FrozenTrial, Trial, TrialState

from autopeft.search.lock import held

OWNER = "owner"
HEARTBEAT = "heartbeat"
HEARTBEAT_S = 30.0  # how often a search marks its running trials alive
STALE_S = 300.0  # unmarked this long, another host's running trial is taken for a killed search's
OPENING_S = 5.0  # a trial watched this long without an owner is not being opened: its search is gone
CLAIM_WAIT_S = 5.0  # how long a claim waits for a lower-numbered trial to record its candidate


def owner_of(run_dir: str | Path) -> str:
    """The `owner` attribute of the trials a search in `run_dir` opens."""
    return json.dumps({"host": socket.gethostname(), "run_dir": str(Path(run_dir).resolve())}, sort_keys=True)


def owner_dir(t: FrozenTrial) -> Path | None:
    """The run directory of the search that ran `t` (None for a trial from before owners)."""
    owner = _parse(t.user_attrs.get(OWNER))
    return Path(owner["run_dir"]) if owner else None


def kept_in(study: optuna.Study, number: int, run_dir: str | Path) -> list[Path]:
    """Where trial `number`'s weights and checkpoint may be: this search's run directory, then the
    one of the search (sharing the study) that trained it."""
    dirs = [Path(run_dir)]
    trial = next((t for t in study.get_trials(deepcopy=False) if t.number == number), None)
    other = owner_dir(trial) if trial is not None else None
    if other is not None and other != dirs[0].resolve():
        dirs.append(other)
    return dirs


def gone(t: FrozenTrial, me: str) -> bool:
    """Whether the search that opened `t` has stopped: `t` is this search's own (which is only asked
    while it starts), older than owners, of an unlocked run directory on this host, or of another
    host and not marked alive for STALE_S."""
    text = t.user_attrs.get(OWNER)
    if text is None or text == me:
        return True
    owner = _parse(text)
    if owner is None:
        return True
    if owner["host"] != socket.gethostname():  # its processes are out of sight: its heartbeat tells
        return stale(t)
    return not held(owner["run_dir"])


def settled(study: optuna.Study, wait_s: float = OPENING_S) -> list[FrozenTrial]:
    """The study's RUNNING trials once none of them may still be being opened: every one has an
    owner, or has been watched without one for `wait_s` (from before owners, or killed while it
    opened). Without the wait, a search starting beside another could interrupt the trial the other
    has just asked for, between its `ask()` and its first attribute, and crash that search.
    Watched time, not `datetime_start`, because another host's clock stamps that."""
    first_seen: dict[int, float] = {}
    while True:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
        now = time.monotonic()
        if all(OWNER in t.user_attrs or now - first_seen.setdefault(t.number, now) >= wait_s for t in running):
            return running
        time.sleep(0.05)


def stale(t: FrozenTrial, now: float | None = None) -> bool:
    """Whether a trial's search has not marked it alive for STALE_S (its last `heartbeat`, or its
    start before the first one); hosts' clocks are assumed right to well within that."""
    beat = t.user_attrs.get(HEARTBEAT)
    last = float(beat) if isinstance(beat, int | float) else (
        t.datetime_start.timestamp() if t.datetime_start is not None else None)
    return last is not None and (now or time.time()) - last > STALE_S


class Heartbeat:
    """While a search runs, a thread marks the trials it is training alive every HEARTBEAT_S (the
    `heartbeat` attribute): a search on another host, which cannot see this one's processes, takes
    a trial unmarked for STALE_S for one a killed search left. Optuna's own heartbeat only runs
    inside `study.optimize`, which an ask/tell loop does not use."""

    def __init__(self, running: Callable[[], list[Trial]], every_s: float = HEARTBEAT_S):
        self.running, self.every_s = running, every_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="autopeft-heartbeat", daemon=True)

    def __enter__(self) -> Heartbeat:
        self._thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _beat(self) -> None:
        while not self._stop.wait(self.every_s):
            try:
                trials = self.running()
            except RuntimeError:  # the loop changed its set of trials meanwhile: next beat
                continue
            for trial in trials:
                try:
                    trial.set_user_attr(HEARTBEAT, time.time())
                except Exception:  # finished meanwhile (its attributes are read-only now), or a storage hiccup
                    pass


def alive_elsewhere(t: FrozenTrial, me: str) -> bool:
    """A RUNNING trial that another search is training (one on this host holding its run directory's
    lock, or one on another host that marked the trial alive lately)."""
    return t.state == TrialState.RUNNING and t.user_attrs.get(OWNER) not in (None, me) and not gone(t, me)


def claim(study: optuna.Study, number: int, me: str, wait_s: float = CLAIM_WAIT_S) -> int | None:
    """The lower-numbered trial that trial `number` must yield to, or None when it may run."""
    deadline = time.monotonic() + wait_s
    while True:
        trials = study.get_trials(deepcopy=False)
        mine = next(t for t in trials if t.number == number)
        opening = False
        for t in trials:
            if t.number >= number:
                continue
            if t.state == TrialState.RUNNING and "candidate" not in t.user_attrs:
                opening |= OWNER not in t.user_attrs or alive_elsewhere(t, me)
            elif t.user_attrs.get(OWNER) != me and _same(t, mine) and _holds(t, me):
                return t.number
        if not opening or time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def _same(t: FrozenTrial, mine: FrozenTrial) -> bool:
    """The same training: candidate (a recipe's start), fidelity and recipe (AdaLoRA's target)."""
    return all(t.user_attrs.get(k) == mine.user_attrs.get(k) for k in ("candidate", "fidelity", "recipe"))


def _holds(t: FrozenTrial, me: str) -> bool:
    """Whether `t` has (or is) the result its candidate needs: trained, or training under a live owner."""
    if t.state == TrialState.COMPLETE:
        return True
    if t.state == TrialState.FAIL:
        return t.user_attrs.get("status") == "failed"  # not an interrupted one, which is re-run
    return t.state == TrialState.RUNNING and (t.user_attrs.get(OWNER) == me or not gone(t, me))


def _parse(text: object) -> dict[str, str] | None:
    try:
        owner = json.loads(str(text)) if text is not None else None
    except ValueError:
        return None
    if isinstance(owner, dict) and isinstance(owner.get("host"), str) and isinstance(owner.get("run_dir"), str):
        return owner
    return None
