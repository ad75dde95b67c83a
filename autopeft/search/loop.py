"""The study loop: ask -> evaluate -> record and tell each result as it arrives -> ask again.

The first `batch` proposals (one per worker) start together; after that each finished trial is
recorded, told to the strategy, and its worker is handed the next proposal at once (the runner's
`more`), so no worker waits for the others. Ends at `target` counted trials (complete or failed;
a multi-fidelity rung counts its share), at the time limit, or when the strategy has nothing new
to propose. Every finished trial rewrites trials.csv and front.csv. With `confirm` (search/confirm.py)
the top trials are then trained on more seeds, which decides the pick.
"""

from __future__ import annotations

import math
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, cast

import optuna
import pandas as pd
from optuna.trial import TrialState

from autopeft.evaluators.fidelity import parse_fidelity
from autopeft.evaluators.job import Job
from autopeft.methods.candidate import Candidate
from autopeft.pareto import hypervolume
from autopeft.search import challenge, confirm, record, sharing, tables, weights
from autopeft.search.evaluator import Evaluator
from autopeft.search.peers import WAIT_S, Peers
from autopeft.search.record import Observation
from autopeft.search.strategies.base import Context, Proposal, Strategy

# proposals asked for in a row while each turns out to be held by a search sharing the study
CLAIM_TRIES = 20
# what a re-run trial keeps of the interrupted one besides its candidate (a recipe re-runs as itself)
RERUN_KEEPS = ("recipe", "origin", "allocation_of", "name", "rung", "continues")


@dataclass
class Progress:
    """What the progress bar shows."""

    done: float = 0  # what the trained trials count towards the target (a rung: its share)
    target: int = 0
    best_score: float | None = None
    front_size: int = 0
    hypervolume: float = 0.0
    deadline: float | None = None  # on `clock`
    last: str = ""
    status: str = ""  # what the strategy is doing between trials (training the supernet, screening)
    clock: Callable[[], float] = time.monotonic  # what --time-limit counts (`CLOCKS`)

    def left_s(self) -> float | None:
        """Seconds left on the search's clock (None without a time limit)."""
        return None if self.deadline is None else max(0.0, self.deadline - self.clock())


# what --time-limit counts: elapsed time, or the process's CPU time (every thread: the training, the
# optimiser, the supernet all run in it). On a shared machine a one-thread in-process search's CPU
# time is the wall time it would take alone, so strategies compare fairly however busy it is.
CLOCKS: dict[str, Callable[[], float]] = {"wall": time.monotonic, "cpu": time.process_time}


@dataclass
class LoopConfig:
    """Settings of one search's loop."""

    run_dir: str
    target: int
    time_limit_s: float | None = None
    batch: int = 1
    seed: int = 0
    keep_weights: str = "front"
    plot_every: int = 0
    baselines: list[tuple[str, Candidate]] = field(default_factory=list)
    clock: str = "wall"  # `CLOCKS`
    confirm: int = 0  # top trials trained on more seeds once the search ends (search/confirm.py)
    challenge: str | None = None  # the pick against the best baseline at this fidelity (search/challenge.py)


class StudyLoop:
    """Runs one search over a study; safe to construct again over the same study to resume."""

    def __init__(self, cfg: LoopConfig, ctx: Context, strategy: Strategy, evaluator: Evaluator,
                 baseline_study: optuna.Study | None = None,
                 on_progress: Callable[[Progress], None] | None = None, proxy_study: optuna.Study | None = None,
                 confirm_study: optuna.Study | None = None, final_study: optuna.Study | None = None):
        self.cfg, self.ctx, self.strategy, self.evaluator = cfg, ctx, strategy, evaluator
        self.study, self.bstudy, self.pstudy, self.cstudy = ctx.study, baseline_study, proxy_study, confirm_study
        self.fstudy = final_study
        self.on_progress = on_progress or (lambda _p: None)
        self.clock = CLOCKS[cfg.clock]
        self.progress = Progress(target=cfg.target, clock=self.clock)
        self.started, self.started_wall = self.clock(), time.monotonic()
        if cfg.time_limit_s:
            self.progress.deadline = self.started + cfg.time_limit_s
        self.frame: pd.DataFrame | None = None
        self.stop_reason = ""
        self.reruns: list[optuna.trial.FrozenTrial] = []  # interrupted trials a resumed search re-runs first
        self.peers = Peers(ctx, strategy)  # the searches sharing the study (search/peers.py)
        self.active: dict[int, Proposal] = {}  # the trials training now, by number (the heartbeat marks them)
        ctx.on_status = self._status

    def _status(self, message: str) -> None:
        self.progress.status = message
        self.on_progress(self.progress)

    # --- resume ---------------------------------------------------------------------------
    def recover(self) -> list[optuna.trial.FrozenTrial]:
        """Mark trials left RUNNING (a killed search) interrupted; return those still to re-run.

        Storage heartbeats only work inside `study.optimize`, so with ask/tell the loop does this itself.
        """
        todo = []
        for study in (self.study, self.bstudy, self.cstudy, self.fstudy):
            if study is not None:
                record.interrupt(study, self._gone, sharing.settled(study) if self.ctx.owner else None)
        trials = self.study.get_trials(deepcopy=False)
        rerun = {t.user_attrs.get("rerun_of") for t in trials}
        for t in trials:
            if record.status_of(t) == "interrupted" and t.number not in rerun and t.user_attrs.get("candidate"):
                todo.append(t)
        history = [o for t in trials if (o := record.observation(t)) and o.status in record.COUNTED]
        self.ctx.seen |= {o.candidate.key for o in history} | {
            Candidate.from_json(t.user_attrs["candidate"]).key for t in todo}
        # rejected/duplicate proposals stay in the study, where Optuna samplers read them directly
        self.strategy.rebuild(history)
        self.peers.told = {o.number for o in history}
        return todo

    def _gone(self, t: optuna.trial.FrozenTrial) -> bool:
        """Whether a RUNNING trial's search has stopped (always, for a study no other search shares)."""
        return self.ctx.owner is None or sharing.gone(t, self.ctx.owner)

    # --- the loop -------------------------------------------------------------------------
    def run(self) -> str:
        """Run to the target; returns why it stopped."""
        with sharing.Heartbeat(lambda: [p.trial for p in list(self.active.values())]):
            return self._run()

    def _run(self) -> str:
        self.reruns = self.recover()
        self._refresh()
        self._run_baselines()
        while True:
            done = record.counted(self.study.get_trials(deepcopy=False))
            self.progress.done = done
            if done >= self.cfg.target:
                self.stop_reason = "reached the requested trials"
                break
            if self._time_left() <= 0:
                self.stop_reason = "time limit"
                break
            elsewhere = self.peers.running_elsewhere()
            want = min(self.cfg.batch, math.ceil(self.cfg.target - done - elsewhere))
            batch = self._proposals(want) if want > 0 else []
            if not batch and elsewhere:  # the rest runs in searches sharing the study: wait for it
                self._status(f"waiting for {elsewhere:g} trials of other searches sharing the study")
                time.sleep(WAIT_S)
                continue
            if not batch:
                self.stop_reason = "the space has no new feasible candidate"
                break
            self._evaluate(self.study, batch, "search")
        self.peers.await_others(self._time_left, self._status)
        self._refresh()
        self._run_confirm()
        self._run_challenge()
        return self.stop_reason

    def _proposals(self, n: int) -> list[Proposal]:
        """Up to `n` trials to start: interrupted ones first (a resumed search), then the strategy's."""
        self.peers.catch_up()
        batch: list[Proposal] = []
        while self.reruns and len(batch) < n:
            prop = self._rerun(self.reruns.pop(0))
            batch += [prop] if self.peers.claimed(self.study, prop) else []
        for _ in range(CLAIM_TRIES):
            if len(batch) >= n:
                break
            props = self.strategy.ask(n - len(batch))
            if not props:
                break
            batch += [p for p in props if self.peers.claimed(self.study, p)]
        return batch

    def _room(self, running: list[Proposal]) -> bool:
        """Whether another trial may start beside `running`: time is left, and what is done plus
        what runs (each trial its cost) is short of the target."""
        planned = record.counted(self.study.get_trials(deepcopy=False)) + self.peers.running_elsewhere()
        planned += sum(float(p.trial.user_attrs.get("cost", 1.0)) for p in running)
        return self._time_left() > 0 and planned < self.cfg.target

    def _time_left(self) -> float:
        if self.progress.deadline is None:
            return float("inf")
        return self.progress.deadline - self.clock()

    def _rerun(self, t: optuna.trial.FrozenTrial) -> Proposal:
        cand = Candidate.from_json(t.user_attrs["candidate"])
        kept = {k: t.user_attrs[k] for k in RERUN_KEEPS if t.user_attrs.get(k) is not None}
        return self.strategy.open_trial(cand, record.genes_of(t), rerun_of=t.number, **kept)

    def _run_baselines(self) -> None:
        if not self.cfg.baselines or self.bstudy is None:
            return
        done = {t.user_attrs.get("name") for t in self.bstudy.get_trials(deepcopy=False)
                if record.status_of(t) in record.COUNTED}
        todo = []
        for name, cand in self.cfg.baselines:
            if name in done:
                continue
            attrs = record.start_attrs(cand, self.ctx.space, "baseline", self.ctx.fidelity, owner=self.ctx.owner,
                                       name=name)
            prop = Proposal(record.create_running(self.bstudy, None, self.ctx.space, attrs), cand, None)
            if self.peers.claimed(self.bstudy, prop):
                todo.append(prop)
        if todo:
            self._evaluate(self.bstudy, todo, "baseline")

    def _run_confirm(self) -> None:
        """Train the search's top `confirm` trials on the extra seeds they lack (search/confirm.py)."""
        if not self.cfg.confirm or self.cstudy is None or self.frame is None:
            return
        todo = []
        for number, candidate, recipe, seed in confirm.missing(self.frame, self.ctx.fidelity, self.cfg.confirm,
                                                               self.cfg.seed):
            attrs = record.start_attrs(candidate, self.ctx.space, "confirm", self.ctx.fidelity, owner=self.ctx.owner,
                                       confirms=number, seed=seed) | ({"recipe": recipe} if recipe else {})
            # not `peers.claimed`: its seeds, not its candidate, make a confirmation new (searches sharing a
            # study skip the confirmations another has running or done: `confirm.missing`)
            todo.append(Proposal(record.create_running(self.cstudy, None, self.ctx.space, attrs), candidate, None,
                                 recipe=recipe, seed=seed))
        if todo:
            self._status(f"confirming the top {self.cfg.confirm} trials on {len(confirm.SEED_OFFSETS)} more seeds")
            self._evaluate(self.cstudy, todo, "confirm")
            self._refresh()

    def _run_challenge(self) -> None:
        """Train the pick and the best baseline at the final fidelity (search/challenge.py)."""
        if not self.cfg.challenge or self.fstudy is None or self.frame is None:
            return
        todo, opened = [], False
        for label, name, candidate, recipe in challenge.missing(self.frame, self.ctx.fidelity):
            opened = True
            attrs = record.start_attrs(candidate, self.ctx.space, challenge.KIND, self.cfg.challenge,
                                       owner=self.ctx.owner, challenges=label, name=name)
            prop = Proposal(record.create_running(self.fstudy, None, self.ctx.space, attrs | (
                {"recipe": recipe} if recipe else {})), candidate, None, recipe=recipe, fidelity=self.cfg.challenge)
            if self.peers.claimed(self.fstudy, prop):  # searches sharing the study train it once
                todo.append(prop)
        if todo:
            self._status(f"challenging the pick with the best baseline at {self.cfg.challenge}")
            self._evaluate(self.fstudy, todo, challenge.KIND)
        if self.peers.await_others(self._time_left, self._status, self.fstudy) or opened:
            self._refresh()  # with what this search trained or yielded, or a search sharing the study trained
        if not (self.frame["kind"] == challenge.KIND).any():
            print(f"note: final challenge: {challenge.unchallenged(self.frame, self.ctx.fidelity)}", file=sys.stderr)

    def _evaluate(self, study: optuna.Study, batch: list[Proposal], kind: str) -> list[Observation]:
        """Train `batch`, recording each result as it arrives; for the search's own trials, tell the
        strategy at once and hand a free worker the next proposal while there is room."""
        by_number = self.active = {p.trial.number: p for p in batch}
        out: list[Observation] = []
        jobs = [self._job(p) for p in batch]

        def more() -> list[Job]:
            if not self._room(list(by_number.values())):
                return []
            props = self._proposals(1)
            by_number.update({p.trial.number: p for p in props})
            return [self._job(p) for p in props]

        def on_result(job: Job, result) -> None:
            number = cast(int, job.trial)  # each job above carries its trial's number, and comes back as given
            prop = by_number.pop(number)
            if prop.recipe and result.candidate and kind not in ("confirm", challenge.KIND):  # found its own candidate
                prop.candidate = Candidate.from_json(result.candidate)
                record.replace_candidate(prop.trial, prop.candidate, self.ctx.space)
                self.ctx.seen.add(prop.candidate.key)
            label = number if kind == "search" else f"{kind[0]}{number}"  # b0, c0, f0: as trials.csv labels them
            if kind != "confirm":  # a confirmation's weights are another seed's of a kept trial's candidate
                self._keep_files(prop, result, label)  # before `finish`: a told trial's attributes are read-only
            prop.trial.set_user_attr("elapsed_s", round(self.clock() - self.started, 2))  # on the search's clock
            status = record.finish(study, prop.trial, result, self.ctx.budget)
            obs = Observation(number, status, prop.candidate, prop.assignment,
                              int(prop.trial.user_attrs["peft_params"]), result.score, prop.rung,
                              record.dev_loss(result.metrics))
            out.append(obs)
            if kind == "search":
                self.strategy.tell([obs])
                self.peers.told.add(number)
            self._refresh(prop.trial if kind == "search" else None)
            self.progress.last = f"trial {label}: {status} {result.score if result.score is not None else ''}"
            self.progress.status = ""
            self.on_progress(self.progress)

        try:
            self.evaluator.evaluate(jobs, on_result, more if kind == "search" else None)
        finally:
            for prop in by_number.values():  # Ctrl-C or a crash: nothing completed is lost
                prop.trial.set_user_attr("status", "interrupted")
                study.tell(prop.trial, state=TrialState.FAIL)
            if by_number:
                self._refresh()
        return out

    def _keep_files(self, prop: Proposal, result: Any, label: str | int) -> None:
        """Write a scored trial's weights and checkpoint; a failed write (a full disk) is noted on the
        trial (`note`) and the search goes on: the score stands, only the file is missing."""
        if not (result.ok and result.score is not None and math.isfinite(result.score)):
            return
        notes = []
        try:
            if self.cfg.keep_weights != "none" and result.state:
                meta = self._weights_meta(prop.candidate, result.state)
                if prop.fidelity and "fidelity" in meta:  # a rung's or a final challenge's, not the search's
                    meta["fidelity"] = prop.fidelity
                weights.save(self.cfg.run_dir, label, result.state, meta)
        except OSError as exc:
            notes.append(f"weights not kept ({exc.strerror or exc})")
        try:
            if result.checkpoint is not None:
                weights.save_checkpoint(self.cfg.run_dir, prop.trial.number, result.checkpoint)
        except OSError as exc:
            notes.append(f"checkpoint not kept, a climb retrains from the start ({exc.strerror or exc})")
        if notes:
            prop.trial.set_user_attr("note", "; ".join(notes))
            print(f"warning: trial {label}: {'; '.join(notes)}", file=sys.stderr)

    def _job(self, p: Proposal) -> Job:
        """A proposal's job: at its own fidelity (a rung) or the search's, continuing the checkpoint
        of the trial it climbs from (from the start when that checkpoint is gone)."""
        fidelity = parse_fidelity(p.fidelity or self.ctx.fidelity)
        resume = None
        if p.resume_from is not None:
            for where in sharing.kept_in(self.study, p.resume_from, self.cfg.run_dir):
                resume = resume or weights.load_checkpoint(where, p.resume_from)
        if p.resume_from is not None and resume is None:
            p.trial.set_user_attr("continues", None)
            p.trial.set_user_attr("cost", (fidelity.stop or fidelity.steps or 0) / (fidelity.steps or 1))
        seed = self.cfg.seed if p.seed is None else p.seed
        return Job.of(p.candidate, fidelity, seed, recipe=p.recipe, trial=p.trial.number, resume=resume,
                      keep_checkpoint=p.keep_checkpoint)

    def _weights_meta(self, candidate: Candidate, state: dict[str, Any]) -> dict[str, str]:
        try:
            return self.evaluator.weights_metadata(candidate, state)
        except Exception as exc:  # metadata is a convenience; the tensors must still be kept
            print(f"warning: weight metadata: {exc}")
        return {"candidate": candidate.to_json()}

    # --- the record's plain files ---------------------------------------------------------
    def _refresh(self, trial: optuna.Trial | None = None) -> None:
        df = tables.trials_frame(self.study, self.bstudy, self.ctx.fidelity, self.pstudy, self.cfg.run_dir,
                                 self.cstudy, self.fstudy)
        front = df[df["front"]]
        hv = hypervolume(front["score"].astype(float), front["peft_params"].astype(float),
                         self.ctx.chance, self.ctx.budget) if len(front) else 0.0
        if trial is not None:
            # the front's progress: the hypervolume right after this trial (a finished trial's own
            # attributes are read-only in Optuna, so it goes in the study's)
            self.study.set_user_attr(f"hv:{trial.number}", hv)
            df.loc[(df["kind"] == "search") & (df["trial"] == trial.number), "hypervolume"] = hv
        tables.write_tables(self.cfg.run_dir, df)
        if self.cfg.keep_weights == "front":
            weights.prune(self.cfg.run_dir, {int(t) for t in front["trial"]})
        self.frame = df
        self.progress.front_size = len(front)
        self.progress.hypervolume = hv
        scores = df[(df["kind"] == "search") & (df["state"] == "complete")]["score"]
        self.progress.best_score = float(scores.max()) if len(scores) else None
        self.progress.done = record.counted(self.study.get_trials(deepcopy=False))
        trained = int(((df["kind"] == "search") & df["state"].isin(record.COUNTED)).sum())
        if self.cfg.plot_every and trial is not None and trained % self.cfg.plot_every == 0:
            plot(self.cfg.run_dir)


def plot(run_dir: str) -> bool:
    """Draw the front with report.pareto when that module exists (another part of autopeft)."""
    try:
        from autopeft.report.pareto import write_pareto_png
    except ImportError:
        return False
    try:
        write_pareto_png(run_dir)
    except Exception as exc:  # a plot must never end a search
        print(f"warning: could not draw the front: {exc}")
        return False
    return True


def finished_info(loop: StudyLoop) -> dict[str, Any]:
    """Outcome fields for run.json."""
    p = loop.progress
    return {"trials_done": round(p.done, 3), "front_size": p.front_size, "hypervolume": p.hypervolume,
            "best_score": p.best_score, "stopped": loop.stop_reason,
            "wall_s": round(time.monotonic() - loop.started_wall, 1), "clock": loop.cfg.clock,
            "clock_s": round(loop.clock() - loop.started, 1)}
