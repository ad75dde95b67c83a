"""The trial record: an Optuna study (SQLite in the run directory, or any Optuna storage URL).

Objectives are (score: maximise, PEFT parameters: minimise). Each trial keeps in its user_attrs
what DESIGN.md lists (candidate JSON, strategy, fidelity, metrics, params, wall time, peak memory,
failure reason) plus `status`, the state trials.csv shows:

    complete     trained and scored                        Optuna COMPLETE (values = score, params)
    failed       trained and failed (reason kept)          Optuna FAIL
    rejected     over the budget, never trained            Optuna PRUNED + constraint `budget` > 0
    duplicate    decodes to a candidate already tried      Optuna PRUNED
    interrupted  was running when the search stopped       Optuna FAIL (re-run on resume)

Only complete and failed trials count towards `--trials` (a multi-fidelity rung by its `cost`,
its share of the final fidelity's steps). Baselines live in a second study of
the same storage (`<name>-baselines`), so samplers never learn from them.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import optuna
from optuna.distributions import BaseDistribution, CategoricalDistribution
from optuna.trial import FrozenTrial, Trial, TrialState

from autopeft.errors import UserError
from autopeft.evaluators.result import EvalResult
from autopeft.methods.candidate import Candidate
from autopeft.space.space import BoundSpace

STUDY = "autopeft"
DIRECTIONS: list[Literal["maximize", "minimize"]] = ["maximize", "minimize"]
COUNTED = ("complete", "failed")


def storage_url(run_dir: str) -> str:
    """The default storage: study.db inside the run directory."""
    return f"sqlite:///{run_dir}/study.db"


def distributions(space: BoundSpace) -> dict[str, BaseDistribution]:
    """The space's genes as Optuna categorical parameters."""
    return {g.name: CategoricalDistribution(list(g.choices)) for g in space.genes}


def make_storage(url: str) -> optuna.storages.BaseStorage:
    """The storage at `url`; SQLite in WAL mode without a sync per commit.

    Optuna commits every parameter and attribute separately; with SQLite's default full sync each
    commit waits for the disk, which adds up to seconds per trial on a busy disk. WAL with
    synchronous=NORMAL still survives a killed process (only a power cut can lose the last commits).
    """
    storage = _rdb_storage(url)
    if url.startswith("sqlite"):
        from sqlalchemy import event

        def pragmas(conn, _record) -> None:
            cur = conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        event.listen(storage.engine, "connect", pragmas)
        storage.engine.dispose()  # reconnect, so every connection gets the pragmas
    return storage


def _rdb_storage(url: str, tries: int = 5) -> optuna.storages.RDBStorage:
    """RDBStorage(url), again when another search sharing the storage created its tables at the same
    moment (both try to write the schema version: one gets an IntegrityError, or SQLite's lock); a
    storage that cannot be opened is one line naming it."""
    from sqlalchemy.exc import ArgumentError, DatabaseError

    for attempt in range(tries):
        try:
            return optuna.storages.RDBStorage(url)
        except DatabaseError as exc:  # the race above (a duplicate key, a table that now exists, a lock)
            if attempt == tries - 1:  # or a database that cannot be reached at all
                raise _storage_error(url, exc) from None
        except (ArgumentError, ImportError, ValueError) as exc:
            raise _storage_error(url, exc) from None
        time.sleep(0.2 * (attempt + 1))
    raise AssertionError("unreachable")


def _storage_error(url: str, exc: Exception) -> UserError:
    what = str(getattr(exc, "orig", None) or exc).splitlines()[0].strip() or type(exc).__name__
    if isinstance(exc, ImportError):
        what = "its database driver is not installed"
    return UserError(f"cannot open the study storage {url!r} ({what}); give an Optuna storage URL such as "
                     "sqlite:///path/study.db, or postgresql://user@host/db with psycopg2 installed")


def open_study(url: str, name: str = STUDY, sampler: optuna.samplers.BaseSampler | None = None,
               storage: optuna.storages.BaseStorage | None = None) -> optuna.Study:
    """Create (or load) the study at an Optuna storage URL."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.create_study(storage=storage or make_storage(url), study_name=name, directions=DIRECTIONS,
                               sampler=sampler, load_if_exists=True)


@dataclass
class Observation:
    """A finished trial as strategies see it."""

    number: int
    status: str
    candidate: Candidate
    assignment: dict[str, Any] | None
    params: int
    score: float | None = None
    rung: int | None = None  # a multi-fidelity search's rung (None: a plain trial)
    loss: float | None = None  # the dev loss (metrics' `loss`), where the evaluator gives one


def start_attrs(candidate: Candidate, space: BoundSpace, strategy: str, fidelity: str, owner: str | None = None,
                **extra: Any) -> dict:
    """The user_attrs of a trial that starts running this candidate; `owner` (search/sharing.py) first,
    so a search sharing the study can tell whose trial it is from the moment it has attributes."""
    n = space.count(candidate)
    return ({"owner": owner} if owner else {}) | {
        "status": "running", "strategy": strategy, "fidelity": fidelity, "candidate": candidate.to_json(),
        "summary": candidate.describe(), "peft_params": n.peft_params, "peft_pct": n.peft_pct,
        "head_params": n.head_params, "train_params": n.train_params} | extra


def replace_candidate(trial: Trial, candidate: Candidate, space: BoundSpace) -> None:
    """A running recipe trial (AdaLoRA) ends with the candidate it found: record it and its counts."""
    for k, v in start_attrs(candidate, space, "", "").items():
        if k not in ("status", "strategy", "fidelity"):
            trial.set_user_attr(k, v)


def start(trial: Trial, candidate: Candidate, space: BoundSpace, strategy: str, fidelity: str,
          **extra: Any) -> None:
    """Mark a trial the sampler just asked for as running this candidate."""
    opened(trial, start_attrs(candidate, space, strategy, fidelity, **extra))


def opened(trial: Trial, attrs: dict[str, Any]) -> None:
    """Write a starting trial's attributes, `candidate` last: a trial killed before that has no
    candidate, so resume marks it interrupted and never re-runs it half-recorded."""
    for key, value in attrs.items():
        if key != "candidate":
            trial.set_user_attr(key, value)
    trial.set_user_attr("candidate", attrs["candidate"])


REOPENS = 3  # how often a proposal is opened again when its new trial was failed meanwhile


def create_running(study: optuna.Study, params: dict[str, Any] | None, space: BoundSpace,
                   attrs: dict[str, Any]) -> Trial:
    """A RUNNING trial of a strategy's own proposal, through Optuna's public API.

    `ask()` creates the trial in one write; its attributes follow one by one, the gene assignment as
    the `genes` attribute (not Optuna parameters: fixing those takes `enqueue_trial`, which another
    search on a shared study could pop, and a commit per gene), and `candidate` last, so a trial
    killed while it opens has no candidate and is never re-run half-recorded (`opened`).

    A search starting beside this one may take the trial, still without an owner, for a killed
    search's and fail it (search/sharing.py's `settled` waits to avoid that): the proposal is then
    opened again in a new trial rather than ending the search."""
    attrs = ({"genes": json.dumps(params, sort_keys=True)} if params else {}) | attrs
    for _ in range(REOPENS):
        trial = study.ask()
        try:
            opened(trial, attrs)
            return trial
        except optuna.exceptions.UpdateFinishedTrialError:
            continue
    trial = study.ask()
    opened(trial, attrs)
    return trial


def genes_of(t: FrozenTrial) -> dict[str, Any] | None:
    """A trial's gene assignment: its `genes` attribute, or its Optuna parameters where a sampler
    proposed it (tpe, nsga2); None for a candidate no gene assignment gives (a recipe's, a baseline)."""
    text = t.user_attrs.get("genes")
    if text:
        return dict(json.loads(text))
    return dict(t.params) or None


def finish(study: optuna.Study, trial: Trial, result: EvalResult, budget: int) -> str:
    """Record a result and tell the study; returns the trial's status."""
    score = result.score if result.ok and result.score is not None and math.isfinite(result.score) else None
    ok = score is not None
    status = "complete" if ok else "failed"
    reason = result.reason if not ok else None
    if result.ok and not ok:
        reason = f"score is {result.score}"
    attrs = {"status": status, "metric": result.metric, "score": score,
             "metrics": json.dumps(result.metrics), "wall_s": round(result.wall_s, 3),
             "peak_mem_mb": round(result.peak_mem_mb, 1), "mem_kind": result.mem_kind, "steps": result.steps,
             "train_loss": result.train_loss, "reason": reason, "seed": result.seed, "precision": result.precision,
             "quantize": result.quantize, "kernels": result.kernels, "attention": result.attention}
    for k, v in attrs.items():
        trial.set_user_attr(k, v)
    peft = trial.user_attrs.get("peft_params", result.peft_params)
    trial.set_constraint("budget", (peft - budget) / budget)
    if score is not None:
        study.tell(trial, [float(score), float(peft)])
    else:
        study.tell(trial, state=TrialState.FAIL)
    return status


def reject(study: optuna.Study, trial: Trial, candidate: Candidate | None, space: BoundSpace, budget: int,
           strategy: str, status: str = "rejected", reason: str = "") -> None:
    """Tell an untrained proposal: over the budget, empty, or a duplicate."""
    params = space.params(candidate) if candidate is not None else 0
    trial.set_user_attr("status", status)
    trial.set_user_attr("strategy", strategy)
    trial.set_user_attr("reason", reason)
    if candidate is not None:
        trial.set_user_attr("candidate", candidate.to_json())
        trial.set_user_attr("summary", candidate.describe())
        trial.set_user_attr("peft_params", params)
        # as `start_attrs` records it: None on a described family, whose backbone size has no formula
        trial.set_user_attr("peft_pct", space.count(candidate).peft_pct)
    trial.set_constraint("budget", max((params - budget) / budget, 1e-9) if status == "rejected" else -1.0)
    study.tell(trial, state=TrialState.PRUNED)


INTERRUPTED_REASON = "the search stopped while it ran"


def status_of(t: FrozenTrial) -> str:
    """The trials.csv state of a stored trial (RUNNING in storage: a search that was killed; failed
    while its record still says running: interrupted, told FAIL by `interrupt`)."""
    if t.state == TrialState.RUNNING:
        return "running"
    if t.state == TrialState.WAITING:
        return "waiting"
    status = str(t.user_attrs.get("status", t.state.name.lower()))
    return "interrupted" if t.state == TrialState.FAIL and status == "running" else status


def reason_of(t: FrozenTrial) -> str | None:
    """Why a trial did not complete (None when it did)."""
    return t.user_attrs.get("reason") or (INTERRUPTED_REASON if status_of(t) == "interrupted" else None)


def interrupt(study: optuna.Study, gone: Callable[[FrozenTrial], bool] = lambda _t: True,
              running: list[FrozenTrial] | None = None) -> None:
    """Tell FAIL every trial a killed search left RUNNING (or enqueued and never asked for): its
    record still says running, which `status_of` reads as interrupted. Public API only: a waiting
    trial is popped with `ask` first, so no later `ask` can take its stale parameters.

    On a shared study only the trials whose search is `gone` are interrupted, out of `running` (the
    study's RUNNING trials by default; search/sharing.py's `settled` ones on a shared study); while
    another search runs, a waiting trial may be its own (enqueued a moment ago) and is left to it."""
    if running is None:
        running = study.get_trials(deepcopy=False, states=(TrialState.RUNNING,))
    if all(gone(t) for t in running):
        for _ in study.get_trials(deepcopy=False, states=(TrialState.WAITING,)):
            study.tell(study.ask(), state=TrialState.FAIL)
    for t in running:
        if gone(t):
            study.tell(t.number, state=TrialState.FAIL)


def observation(t: FrozenTrial, space: BoundSpace | None = None) -> Observation | None:
    """A stored trial as an Observation (None when it holds no candidate)."""
    text = t.user_attrs.get("candidate")
    if not text:
        return None
    cand = Candidate.from_json(text)
    return Observation(t.number, status_of(t), cand, genes_of(t), int(t.user_attrs.get("peft_params", 0)),
                       t.user_attrs.get("score"), t.user_attrs.get("rung"),
                       dev_loss(json.loads(t.user_attrs.get("metrics") or "{}")))


def dev_loss(metrics: dict[str, Any]) -> float | None:
    """The dev loss among a result's metrics (None when missing or not finite)."""
    value = metrics.get("loss")
    return float(value) if isinstance(value, int | float) and math.isfinite(value) else None


def cost_of(t: FrozenTrial) -> float:
    """What a trial counts towards --trials: 1, or a multi-fidelity rung's share of the final
    fidelity's steps (its `cost`)."""
    return float(t.user_attrs.get("cost", 1.0))


def counted(trials: list[FrozenTrial]) -> float:
    """What the trained trials (completed or failed) count towards --trials."""
    return sum(cost_of(t) for t in trials if status_of(t) in COUNTED)
