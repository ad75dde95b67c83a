"""`autopeft.search(...)`: the Python entry point behind `autopeft search`."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from autopeft.errors import UserError
from autopeft.search import record, tables
from autopeft.search.evaluator import Evaluator
from autopeft.search.lock import run_dir_lock
from autopeft.search.loop import LoopConfig, Progress, StudyLoop, finished_info, plot
from autopeft.search.options import SearchOptions
from autopeft.search.proxy_record import open_proxy_study
from autopeft.search.settings import Settings, resolve_settings
from autopeft.search.sharing import kept_in, owner_of
from autopeft.search.strategies import strategy_class
from autopeft.search.strategies.base import Context


@dataclass
class SearchResult:
    """A finished (or stopped) search: its directory, all trials and the Pareto front."""

    run_dir: Path
    trials: pd.DataFrame
    front: pd.DataFrame
    hypervolume: float
    stopped: str
    info: dict[str, Any] = field(default_factory=dict)

    def __repr__(self) -> str:
        return (f"SearchResult({self.run_dir}, {len(self.trials)} trials, front of {len(self.front)}, "
                f"hypervolume {self.hypervolume:.4f})")


def search(task: str | None = None, *, resume: str | Path | None = None, evaluator: Evaluator | None = None,
           on_start: Callable[[Settings], None] | None = None,
           on_progress: Callable[[Progress], None] | None = None, **options: Any) -> SearchResult:
    """Search PEFT configurations for `task`; returns the trials and the Pareto front.

    `options` are `SearchOptions`' fields (budget="0.5%", model="minilm", strategy="mobo", trials,
    fidelity="quick", exportable="peft", ...): the same names, defaults and meanings as the CLI's flags.
    `evaluator` replaces the trainer (tests, benchmarks); `resume` continues the run in that directory
    (its run.json gives the settings; `trials`, `time_limit`, `workers` may be changed).
    """
    try:
        opts = SearchOptions(task=task, **options)
    except TypeError as exc:  # an option that does not exist
        raise UserError(f"autopeft.search: {exc}") from None
    strategy, from_name = parse_strategy(opts.strategy)
    opts.strategy, opts.strategy_options = strategy, from_name | opts.strategy_options
    s = resolve_settings(opts.as_settings(), resume, synthetic=evaluator is not None)
    cls = strategy_class(s.options.strategy)
    with run_dir_lock(s.run_dir):  # before the backbone loads: a second writer is refused at once
        storage = record.make_storage(s.storage)  # so is a storage that cannot be opened
        own = evaluator is None
        if evaluator is None:
            from autopeft.search.runner import make_evaluator

            evaluator = make_evaluator(s)
        try:
            return _run(s, cls, evaluator, storage, on_start, on_progress)
        finally:
            if own:
                evaluator.close()


def parse_strategy(text: str) -> tuple[str, dict[str, Any]]:
    """`mobo` or `mobo:start=baselines:n_init=6` -> (name, options); numbers are read as numbers."""
    name, *pairs = str(text).split(":")
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserError(f"--strategy {text!r}: write options as NAME:key=value[:key=value], "
                            "e.g. mobo:start=baselines")
        options[key] = _number(value)
    return name, options


def _number(value: str) -> Any:
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def _run(s: Settings, cls, evaluator: Evaluator, storage, on_start, on_progress) -> SearchResult:
    bound = s.bound
    bound.num_labels = evaluator.num_labels or bound.num_labels
    s.chance = float(evaluator.chance) if s.chance is None else s.chance
    o = s.options
    study = record.open_study(s.storage, sampler=cls.sampler(o.seed, o.strategy_options), storage=storage)
    bstudy = record.open_study(s.storage, f"{record.STUDY}-baselines", storage=storage) if o.baselines else None
    cstudy = record.open_study(s.storage, f"{record.STUDY}-confirm", storage=storage) if o.confirm else None
    fstudy = record.open_study(s.storage, f"{record.STUDY}-final", storage=storage) if o.challenge else None
    ctx = Context(bound, s.budget_params, study, s.fidelity, o.seed, s.chance, owner=owner_of(s.run_dir))
    if cls.uses_proxy:
        ctx.proxy_study = open_proxy_study(s.storage, storage)
        ctx.proxy_factory = _proxy_factory(evaluator, s)
    try:
        strat = cls(ctx, **s.options.strategy_options)
    except (TypeError, ValueError) as exc:  # an option the strategy does not take, or a bad value
        raise UserError(f"--strategy {s.options.strategy}: {exc}") from None
    backbone = getattr(evaluator, "backbone_info", None)  # the real evaluator's loaded backbone
    info = s.run_info() | {"strategy_info": strat.info(), "metric": evaluator.metric,
                           "backbone": backbone() if backbone else None,
                           "status": "running", "started": time.strftime("%Y-%m-%dT%H:%M:%S")}
    tables.write_run_json(s.run_dir, info)
    if on_start:
        on_start(s)
    cfg = LoopConfig(str(s.run_dir), s.trials, s.time_limit_s, max(1, o.workers or 1), o.seed, o.keep_weights,
                     o.plot_every, s.fitted_baselines() if o.baselines else [], o.clock, o.confirm or 0,
                     o.challenge)
    loop = StudyLoop(cfg, ctx, strat, evaluator, bstudy, on_progress, proxy_study=ctx.proxy_study,
                     confirm_study=cstudy, final_study=fstudy)
    status = "interrupted"
    try:
        try:
            loop.run()
        finally:
            strat.close()
        status = "finished"
        if o.test_scores:
            _score_front_on_test(loop, evaluator)
    finally:
        info |= finished_info(loop) | {"status": status, "ended": time.strftime("%Y-%m-%dT%H:%M:%S")}
        tables.write_run_json(s.run_dir, info)
    loop._refresh()
    if s.options.plot_every:
        plot(str(s.run_dir))
    df = loop.frame
    return SearchResult(s.run_dir, df, tables.front_frame(df), loop.progress.hypervolume, loop.stop_reason, info)


def _proxy_factory(evaluator: Evaluator, s: Settings):
    """The evaluator's supernet proxy, checkpointed in the run directory (resumable)."""

    def factory(space, budget, plan, seed):
        return evaluator.proxy(space, budget, plan, seed, s.run_dir / "supernet")

    return factory


def _score_front_on_test(loop: StudyLoop, evaluator: Evaluator) -> None:
    """DESIGN: when a search ends, the front's members are scored on the reporting split; so are the
    baselines (`--baselines`), so the report compares them with the front on the same split, the
    confirmed trials (`--confirm`), among which the pick is, on the front or not, and the final
    challenge's trainings (`--challenge`), one of which is then the pick."""
    if loop.frame is None:
        return
    df = loop.frame
    front = df[(df["front"] | df["confirmed"].notna()) & (df["kind"] == "search")]
    base = df[(df["kind"] == "baseline") & (df["state"] == "complete")]
    final = df[(df["kind"] == "final") & (df["state"] == "complete")]
    for study, rows, prefix in ((loop.study, front, ""), (loop.bstudy, base, "b"), (loop.fstudy, final, "f")):
        if study is not None and len(rows):
            _score_on_test(loop, evaluator, study, rows, prefix)
    loop._refresh()


def _score_on_test(loop: StudyLoop, evaluator: Evaluator, study, rows, prefix: str) -> None:
    """Score `rows` of `study` on test (from kept weights where there are some), as study attributes."""
    from autopeft.evaluators.fidelity import parse_fidelity
    from autopeft.evaluators.job import Job
    from autopeft.search.weights import weights_path

    jobs = []
    for r in rows.itertuples():
        number = int(str(r.trial).removeprefix(prefix))
        if f"test:{number}" in study.user_attrs:
            continue
        kept = [weights_path(d, f"{prefix}{number}") for d in kept_in(study, number, loop.cfg.run_dir)]
        path = next((p for p in kept if p.is_file()), kept[0])
        jobs.append(Job.of(r.candidate, parse_fidelity(r.fidelity or loop.ctx.fidelity), loop.cfg.seed, split="test",
                           trial=number,
                           weights=str(path) if path.is_file() else None, recipe=r.recipe or None))
    if not jobs:
        return

    def on_result(job: Job, result) -> None:
        if result.ok and result.score is not None:
            study.set_user_attr(f"test:{job.trial}", result.score)

    evaluator.report(jobs, on_result)


__all__ = ["SearchResult", "UserError", "search"]
