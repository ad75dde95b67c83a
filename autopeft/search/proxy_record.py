"""Proxy scores in the record: a third study of the run's storage (`<study>-proxy`), so they are
kept and shown (trials.csv rows of kind `proxy`, fidelity `supernet`), reused on resume instead of
being computed again, and never mixed into the front or counted towards `--trials`."""

from __future__ import annotations

import json
from typing import Any

import optuna

from autopeft.evaluators.result import EvalResult
from autopeft.methods.candidate import Candidate
from autopeft.search import record
from autopeft.search.proxy import proxy_value
from autopeft.space.space import BoundSpace

SUFFIX = "-proxy"


def open_proxy_study(storage_url: str, storage: Any = None) -> optuna.Study:
    """The proxy study beside the search's."""
    return record.open_study(storage_url, f"{record.STUDY}{SUFFIX}", storage=storage)


def cached_scores(study: optuna.Study | None,
                  rank_by: str = "score") -> dict[str, tuple[float | None, dict[str, Any] | None]]:
    """Candidate key -> (its proxy value, see `proxy_value`, or None if it failed; its gene
    assignment), from the record."""
    out: dict[str, tuple[float | None, dict[str, Any] | None]] = {}
    if study is None:
        return out
    for t in study.get_trials(deepcopy=False):
        cand = t.user_attrs.get("candidate")
        if not cand or record.status_of(t) not in record.COUNTED:
            continue
        key = Candidate.from_json(cand).key
        metrics = json.loads(t.user_attrs.get("metrics") or "{}")
        out[key] = (proxy_value(t.user_attrs.get("score"), metrics, rank_by), record.genes_of(t))
    return out


def record_proxy(study: optuna.Study | None, space: BoundSpace, candidate: Candidate,
                 assignment: dict[str, Any] | None, result: EvalResult, strategy: str, budget: int) -> None:
    """Store one proxy score as a finished trial of the proxy study."""
    if study is None:
        return
    attrs = record.start_attrs(candidate, space, strategy, result.fidelity or "supernet")
    trial = record.create_running(study, assignment, space, attrs)
    record.finish(study, trial, result, budget)
