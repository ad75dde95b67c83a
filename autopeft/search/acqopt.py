"""Maximising an acquisition function over the discrete space: local search over one-exchange
neighbours (one gene changed), started from the Pareto front's points and from the best of a
random feasible pool, keeping only feasible (within budget, non-empty) candidates not yet tried."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from autopeft.methods.candidate import Candidate
from autopeft.search.encoding import Encoder
from autopeft.space.space import BoundSpace

Acq = Callable[[np.ndarray], np.ndarray]  # encodings (n x d) -> acquisition values (n)


@dataclass
class Point:
    """An assignment, its candidate, and its acquisition value."""

    assignment: dict[str, Any]
    candidate: Candidate
    value: float = -np.inf


def neighbours(space: BoundSpace, assignment: dict[str, Any]) -> list[dict[str, Any]]:
    """Every assignment that differs from `assignment` in exactly one gene."""
    out = []
    for g in space.genes:
        for c in g.choices:
            if c != assignment[g.name]:
                out.append(dict(assignment, **{g.name: c}))
    return out


def local_search(acq: Acq, space: BoundSpace, enc: Encoder, allowed: Callable[[Candidate], bool],
                 starts: list[dict[str, Any]], rng: random.Random, budget: int, pool: int = 256,
                 restarts: int = 5, max_evals: int = 3000, chunk: int = 512,
                 draw: Callable[[], tuple[dict[str, Any], Candidate] | None] | None = None) -> Point | None:
    """The best allowed point found by hill-climbing from `starts` and the best random restarts
    (`pool` draws of `draw`, by default a feasible random candidate of the whole space)."""
    evals = 0

    def score(points: list[Point]) -> None:
        nonlocal evals
        for i in range(0, len(points), chunk):
            part = points[i : i + chunk]
            values = acq(enc.encode_many([(p.assignment, p.candidate) for p in part]))
            for p, v in zip(part, values, strict=True):
                p.value = float(v)
        evals += len(points)

    seeds: list[Point] = []
    for a in starts:
        cand = space.decode(a)
        if cand is not None:
            seeds.append(Point(a, cand))
    randoms = []
    for _ in range(pool):
        drawn = draw() if draw is not None else space.sample(rng, budget, mode="mixed")
        if drawn is not None and allowed(drawn[1]):
            randoms.append(Point(*drawn))
    score(seeds + randoms)
    randoms.sort(key=lambda p: -p.value)
    best: Point | None = max((p for p in randoms), key=lambda p: p.value, default=None)
    seen: set[str] = set()
    for current in seeds + randoms[:restarts]:
        while evals < max_evals:
            moves = []
            for a in neighbours(space, current.assignment):
                cand = space.decode(a)
                if cand is None or cand.key in seen or space.params(cand) > budget or not allowed(cand):
                    continue
                seen.add(cand.key)
                moves.append(Point(a, cand))
            if not moves:
                break
            score(moves)
            step = max(moves, key=lambda p: p.value)
            if best is None or step.value > best.value:
                best = step
            if step.value <= current.value:
                break
            current = step
    return best
