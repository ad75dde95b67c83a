"""One search's view of the other searches sharing its study (`--storage URL`; search/sharing.py).

The study loop asks it four things: which candidates the others have taken (so proposals are new to
the whole study), what they are still training (it counts towards the target), whether a trial this
search just opened may train (the lowest-numbered holder of a candidate wins), and, at the end, to
wait for the others' running trials so that the tables hold their results. On a study no other
search shares (`ctx.owner` is None) every answer is the trivial one and no storage is read twice.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import optuna
from optuna.trial import FrozenTrial, TrialState

from autopeft.search import record, sharing
from autopeft.search.strategies.base import Context, Proposal, Strategy

WAIT_S = 1.0  # how often a search whose remaining trials all run elsewhere looks for their results


class Peers:
    """The searches sharing `ctx.study` besides this one, and what this search has told its strategy."""

    def __init__(self, ctx: Context, strategy: Strategy):
        self.ctx, self.strategy = ctx, strategy
        self.told: set[int] = set()  # trials the strategy has been told (others finish some)

    def elsewhere(self, t: FrozenTrial) -> bool:
        """Whether `t` is running in another live search."""
        return self.ctx.owner is not None and sharing.alive_elsewhere(t, self.ctx.owner)

    def running_elsewhere(self) -> float:
        """What the trials other searches sharing the study are training will count."""
        return sum(record.cost_of(t) for t in self.ctx.study.get_trials(deepcopy=False) if self.elsewhere(t))

    def catch_up(self) -> None:
        """Tell the strategy what other searches finished since, and take the candidates they run or
        ran off the table, so that proposals are new to the whole study."""
        fresh = []
        for t in self.ctx.study.get_trials(deepcopy=False):
            if t.number in self.told or t.state == TrialState.WAITING:
                continue
            running = t.state == TrialState.RUNNING
            if running and not self.elsewhere(t):
                continue  # this search's own, or one being opened
            if not running:
                self.told.add(t.number)  # looked at once: rejected, duplicate and interrupted ones too
            if (o := record.observation(t)) is None or not (running or o.status in record.COUNTED):
                continue
            self.ctx.seen.add(o.candidate.key)
            if not running:
                fresh.append(o)
        if fresh:
            self.strategy.tell(fresh)

    def claimed(self, study: optuna.Study, prop: Proposal) -> bool:
        """Whether the trial just opened may train: no lower-numbered trial of the study holds its
        candidate at its fidelity (another search's); if one does, it is recorded a duplicate and
        dropped."""
        if self.ctx.owner is None:
            return True
        holder = sharing.claim(study, prop.trial.number, self.ctx.owner)
        if holder is None:
            return True
        self.strategy.running.pop(prop.trial.number, None)
        self.ctx.seen.add(prop.candidate.key)
        record.reject(study, prop.trial, prop.candidate, self.ctx.space, self.ctx.budget,
                      str(prop.trial.user_attrs.get("strategy", "")), status="duplicate",
                      reason=f"trial {holder} of a search sharing the study holds it")
        return False

    def await_others(self, time_left: Callable[[], float], status: Callable[[str], None],
                     study: optuna.Study | None = None) -> bool:
        """Wait (while `time_left()` is positive) for the trials other searches were training when
        this one ended, so that its trials.csv and front.csv hold their results too (in `study`: the
        search's own by default, or the final challenge's, whose trainings another search may hold).
        Whether there were any."""
        study = study or self.ctx.study
        pending = {t.number for t in study.get_trials(deepcopy=False) if self.elsewhere(t)}
        waited = bool(pending)
        while pending and time_left() > 0:
            status(f"waiting for {len(pending)} trials of other searches sharing the study")
            time.sleep(WAIT_S)
            pending &= {t.number for t in study.get_trials(deepcopy=False) if self.elsewhere(t)}
        return waited
