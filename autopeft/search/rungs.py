"""Rungs of a multi-fidelity search and who climbs them (asynchronous successive halving, ASHA,
with MO-ASHA's ranking for two objectives).

A candidate trains first to the lowest rung's step; whenever a trial slot is free, the highest rung
with a member in its top 1/eta that has not climbed yet promotes that member one rung up (it
continues from its checkpoint), and only when no rung has one does a new candidate start at the
bottom. No rung waits to fill (Li et al. 2020), so parallel workers never idle. The top 1/eta of a
rung is taken by non-dominated rank over (score ↑, PEFT parameters ↓), then, within a rank, by
hypervolume contribution (Schmucker et al. 2021, "Multi-objective ASHA"; NSGA-II's sorting with
the hypervolume as the tie-break, as in SMS-EMOA), so a small candidate with a fair score climbs
as readily as a large one with a high score. Or, for a user who takes the best score within the
budget (the user's table in experiments/search_quality), by score alone (`score_order`): MO-ASHA's
order confirmed a 384-parameter (IA)³ at the final length there and never the best 100-step score.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from autopeft.pareto import hypervolume, non_dominated


def rung_steps(final_steps: int, eta: int, rungs: int) -> list[int]:
    """Where each rung stops, bottom first: final / eta^(rungs-1), ..., final (distinct, rising)."""
    if eta < 2 or rungs < 1:
        raise ValueError(f"multi-fidelity needs eta >= 2 and at least one rung (got eta={eta}, rungs={rungs})")
    steps = sorted({max(1, round(final_steps / eta ** k)) for k in range(rungs)})
    return steps


@dataclass(frozen=True)
class RungResult:
    """One candidate's result at one rung."""

    key: str  # the candidate's key
    trial: int  # the trial that trained it to this rung
    score: float
    params: int
    loss: float = math.inf  # its dev loss: breaks equal scores (unknown: last)


def mo_order(members: list[RungResult], ref_score: float, budget: float) -> list[RungResult]:
    """`members` best first: by non-dominated rank, then by hypervolume contribution within a rank
    (the larger first; ties by fewer parameters, the lower dev loss, then trial number, so the order is
    deterministic)."""
    left = list(members)
    ordered: list[RungResult] = []
    while left:
        mask = non_dominated([m.score for m in left], [m.params for m in left])
        front = [m for m, on in zip(left, mask, strict=True) if on]
        left = [m for m, on in zip(left, mask, strict=True) if not on]
        total = hypervolume([m.score for m in front], [m.params for m in front], ref_score, budget)

        def contribution(m: RungResult, front: list[RungResult] = front, total: float = total) -> float:
            rest = [o for o in front if o is not m]
            return total - hypervolume([o.score for o in rest], [o.params for o in rest], ref_score, budget)

        ordered += sorted(front, key=lambda m: (-contribution(m), m.params, m.loss, m.trial))
    return ordered


def score_order(members: list[RungResult]) -> list[RungResult]:
    """`members` best first by score alone (ties: fewer parameters, the lower dev loss, then trial number).

    A rung scored on a few hundred dev examples ties often (MNIST's 200: a step of 0.005), and the
    first trial is no better a guess than the last; the loss, continuous, is a better one (`best_of`
    breaks a pick's ties on it too)."""
    return sorted(members, key=lambda m: (-m.score, m.params, m.loss, m.trial))


# how a rung's members are ranked for promotion: MO-ASHA's (the front's spread) or the score's
ORDERS = ("front", "score")


def promotable(members: list[RungResult], climbed: set[str], eta: int, ref_score: float,
               budget: float, order: str = "front") -> list[RungResult]:
    """The members of a rung's top 1/eta (floor) that have not climbed yet, best first (`order`:
    MO-ASHA's `front` order or the `score`'s)."""
    ranked = mo_order(members, ref_score, budget) if order == "front" else score_order(members)
    top = ranked[: len(members) // eta]
    return [m for m in top if m.key not in climbed]
