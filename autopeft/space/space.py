"""A search space bound to a backbone: its genes, decoding, sampling and parameter range (binding.py
builds one from a space file)."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from autopeft.errors import UserError
from autopeft.methods.anatomy import BackboneDims
from autopeft.methods.candidate import Candidate
from autopeft.methods.count import ParamCount, count_dims
from autopeft.space.genes import Gene


@dataclass
class BoundSpace:
    """A space on one backbone: genes to sample, `decode` to candidates, exact counts."""

    name: str
    dims: BackboneDims
    genes: list[Gene]
    decoder: Callable[[dict[str, Any]], Candidate | None]
    dropped: list[str] = field(default_factory=list)
    num_labels: int = 2

    # --- decoding and counting ------------------------------------------------------------
    def decode(self, assignment: dict[str, Any]) -> Candidate | None:
        """The candidate for a full gene assignment, or None when it has no PEFT module."""
        return self.decoder(assignment)

    def count(self, candidate: Candidate) -> ParamCount:
        """Exact parameter count of a candidate on this backbone."""
        return count_dims(candidate, self.dims, self.num_labels)

    def params(self, candidate: Candidate) -> int:
        """The budget's measure: exported PEFT parameters."""
        return self.count(candidate).peft_params

    @property
    def log10_size(self) -> float:
        """log10 of the number of gene assignments (codes; several may decode to one candidate)."""
        return sum(math.log10(len(g.choices)) for g in self.genes)

    def max_params(self) -> int:
        """The largest candidate: every gene at its largest size."""
        cand = self.decode({g.name: g.largest() for g in self.genes})
        return self.params(cand) if cand else 0

    def min_params(self) -> int:
        """Parameters of the smallest candidate (see `smallest`)."""
        found = self.smallest()
        return self.params(found[1]) if found else 0

    def check_budget(self, budget: int, given: str) -> None:
        """Refuse (one line) a budget below the smallest candidate; `given` is the user's text."""
        smallest = self.min_params()
        if budget < smallest:
            raise UserError(f"budget {given} ({budget:,} PEFT parameters) is below the smallest candidate of "
                            f"space {self.name!r} ({smallest:,}); raise --budget or choose a smaller space")

    def smallest(self) -> tuple[dict[str, Any], Candidate] | None:
        """The smallest candidate and its genes: one module at its smallest non-zero size,
        then as few layers switched on (or as shallow a depth) as keeps it non-empty."""
        if not self.genes:
            cand = self.decode({})
            return ({}, cand) if cand else None
        base = {g.name: (g.largest() if g.kind in ("switch", "depth") else g.smallest()) for g in self.genes}
        best: tuple[int, dict[str, Any], Candidate] | None = None
        for g in self.genes:
            if g.kind not in ("size", "flag"):
                continue
            nonzero = [c for c in g.choices if g.value_of(c)]
            if not nonzero:
                continue
            trial = dict(base, **{g.name: min(nonzero, key=g.value_of)})
            cand = self.decode(trial)
            if cand is not None and (best is None or self.params(cand) < best[0]):
                best = (self.params(cand), trial, cand)
        if best is None:
            return None
        # then switch layers off / shorten depths while something stays on (AutoPEFT, NOAH spaces)
        params, assignment, found = best
        for g in self.genes:
            if g.kind not in ("switch", "depth"):
                continue
            for choice in sorted(g.choices, key=g.value_of):
                cand = self.decode(dict(assignment, **{g.name: choice}))
                if cand is not None and self.params(cand) < params:
                    params, assignment, found = self.params(cand), dict(assignment, **{g.name: choice}), cand
                    break
        return assignment, found

    def largest_within(
        self, budget: int | None, rng: random.Random, tries: int = 300
    ) -> tuple[dict[str, Any], Candidate]:
        """A largest-feasible candidate: the best of the repaired all-largest assignment and
        `tries` random feasible samples (exact maximisation is a knapsack problem)."""
        top = {g.name: g.largest() for g in self.genes}
        best = self.repair(top, rng, budget)
        for _ in range(tries):
            a, cand = self.sample(rng, budget)
            if self.params(cand) > self.params(best[1]):
                best = (a, cand)
        return best

    def assignment_of(self, candidate: Candidate, passes: int = 3) -> dict[str, Any] | None:
        """Genes that decode to exactly `candidate`, or None when the space cannot express it
        (a size off its grid, a global it fixes otherwise). Coordinate descent on the number of
        (layer, method, slot) sizes and globals that differ: genes barely interact, so a pass or two
        finds it; the exact match is checked at the end."""
        target = _parts(candidate)
        assignment = {g.name: g.smallest() for g in self.genes}
        for g in self.genes:  # switches and depths start open, so size genes can show their effect
            if g.kind in ("switch", "depth"):
                assignment[g.name] = g.largest()

        def distance(a: dict[str, Any]) -> int:
            cand = self.decode(a)
            return len(target ^ _parts(cand)) if cand is not None else len(target) + 1

        def rank(g: Gene, choice: Any) -> tuple[int, bool]:
            """Fewest differences first; on a tie, keep the current choice."""
            return distance(dict(assignment, **{g.name: choice})), choice != assignment[g.name]

        for _ in range(passes):
            changed = False
            for g in self.genes:
                best = min(g.choices, key=partial(rank, g))
                changed |= best != assignment[g.name]
                assignment[g.name] = best
            if not changed:
                break
        found = self.decode(assignment)
        return assignment if found is not None and found.key == candidate.key else None

    # --- sampling -------------------------------------------------------------------------
    def random_assignment(self, rng: random.Random, density: float | None = None) -> dict[str, Any]:
        """A random gene assignment; with `density`, each off-able gene is on with that probability.

        Uniform per-gene sampling puts almost every candidate of a per-layer space near the
        middle of the parameter range; drawing a density first spreads samples over the range.
        """
        out = {}
        for g in self.genes:
            if density is not None and g.has_off and g.kind in ("size", "flag"):
                on = [c for c in g.choices if g.value_of(c)]
                off = [c for c in g.choices if not g.value_of(c)]
                out[g.name] = rng.choice(on) if on and rng.random() < density else rng.choice(off)
            else:
                out[g.name] = rng.choice(g.choices)
        return out

    def sample(
        self, rng: random.Random, budget: int | None = None, mode: str = "mixed", max_tries: int = 2000
    ) -> tuple[dict[str, Any], Candidate]:
        """A feasible (non-empty, within `budget` PEFT params) random candidate and its genes.

        `mode="uniform"` draws each gene uniformly (rejection against the budget); `"mixed"`
        first draws a density in (0, 1). After `max_tries` rejections a sample is repaired by
        switching genes off until it fits.
        """
        for _ in range(max_tries):
            density = rng.random() if mode == "mixed" else None
            assignment = self.random_assignment(rng, density)
            cand = self.decode(assignment)
            if cand is not None and (budget is None or self.params(cand) <= budget):
                return assignment, cand
        return self.repair(assignment, rng, budget)

    def repair(
        self, assignment: dict[str, Any], rng: random.Random, budget: int | None
    ) -> tuple[dict[str, Any], Candidate]:
        """Shrink an assignment one step at a time (a random gene each time) until it fits."""
        assignment = dict(assignment)
        shrinkable = [g for g in self.genes if g.kind in ("size", "flag", "depth", "switch")]
        while True:
            cand = self.decode(assignment)
            if cand is not None and (budget is None or self.params(cand) <= budget):
                return assignment, cand
            options = []
            for g in shrinkable:
                smaller = [c for c in g.choices if g.value_of(c) < g.value_of(assignment[g.name])]
                if smaller:
                    step = max(smaller, key=g.value_of)
                    if self.decode(dict(assignment, **{g.name: step})) is not None:
                        options.append((g.name, step))
            if not options:
                break
            name, step = rng.choice(options)
            assignment[name] = step
        raise UserError(
            f"no candidate of space {self.name!r} fits a budget of {budget:,} PEFT parameters "
            f"(the smallest has {self.min_params():,}); raise --budget or use a smaller space"
        )


def module_distance(a: Candidate, b: Candidate) -> int:
    """How many facts two candidates differ in: a module (layer, method, slot) added, removed or
    resized, or a global option changed (a resize counts twice: the old size out, the new in)."""
    return len(_parts(a) ^ _parts(b))


def _parts(candidate: Candidate) -> set[tuple]:
    """A candidate as a set of facts: (layer, method, slot, size) and (method, option, value)."""
    parts = {(i, m, slot, size) for i, layer in enumerate(candidate.layers) for m, sizes in layer.items()
             for slot, size in sizes.items()}
    return parts | {(m, k, repr(v)) for m, opts in candidate.globals.items() for k, v in opts.items()}
