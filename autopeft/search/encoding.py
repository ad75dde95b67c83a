"""A numeric encoding of candidates for GP models, all features in [0, 1].

- each size gene: log2(1 + size) over its largest (ordinal, log scale); flags, switches, depths
  and numeric globals: their position over the largest; categorical globals: one-hot;
- per-method structure: the fraction of layers a method is on in, and its mean log size there
  (what per-layer genes share across layers, so the GP can generalise between layers);
- last: log(1 + PEFT params) over log(1 + budget), the exact parameter count, which the
  parameter objective reads back exactly (`params_from_encoding`).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from autopeft.methods.candidate import Candidate
from autopeft.methods.registry import METHODS
from autopeft.space.space import BoundSpace


class Encoder:
    """Encodes gene assignments of one space (with the candidate they decode to)."""

    def __init__(self, space: BoundSpace, budget: int):
        self.space, self.budget = space, budget
        self.columns: list[str] = []
        self._plan: list[tuple[str, Any]] = []
        for g in space.genes:
            numeric = all(isinstance(v, int | float) and not isinstance(v, bool) for v in g.values)
            if g.kind == "global" and not numeric and len(g.choices) > 2:
                self._plan.append(("onehot", g))
                self.columns += [f"{g.name}={c}" for c in g.choices]
            else:
                top = max(g.ordinal(c) for c in g.choices) or 1.0
                low = min(g.ordinal(c) for c in g.choices)
                self._plan.append(("ordinal", (g, low, top)))
                self.columns.append(g.name)
        self.methods = sorted({g.name.split(".")[0] for g in space.genes if g.kind in ("size", "flag")}
                              & set(METHODS))
        self._max_log = {m: math.log2(1 + max((v for g in space.genes if g.name.startswith(m + ".")
                                                for v in g.values if isinstance(v, int)), default=1))
                         for m in self.methods}
        self.columns += [f"{m}:layers" for m in self.methods] + [f"{m}:size" for m in self.methods]
        self.columns.append("log_params")
        self.dim = len(self.columns)

    def encode(self, assignment: dict[str, Any], candidate: Candidate | None = None) -> np.ndarray:
        """The feature vector of one assignment."""
        cand = candidate if candidate is not None else self.space.decode(assignment)
        out: list[float] = []
        for how, item in self._plan:
            if how == "onehot":
                out += [float(assignment[item.name] == c) for c in item.choices]
            else:
                g, low, top = item
                out.append((g.ordinal(assignment[g.name]) - low) / ((top - low) or 1.0))
        layers = cand.layers if cand is not None else []
        n = max(1, len(layers))
        frac, size = [], []
        for m in self.methods:
            on = [max(layer[m].values()) for layer in layers if m in layer]
            frac.append(len(on) / n)
            size.append(float(np.mean([math.log2(1 + s) for s in on])) / (self._max_log[m] or 1.0) if on else 0.0)
        params = self.space.params(cand) if cand is not None else 0
        return np.asarray(out + frac + size + [math.log1p(params) / math.log1p(self.budget)], dtype=float)

    def encode_many(self, items: list[tuple[dict[str, Any], Candidate | None]]) -> np.ndarray:
        """Rows of `encode` (shape n x dim)."""
        if not items:
            return np.zeros((0, self.dim))
        return np.stack([self.encode(a, c) for a, c in items])


def params_from_encoding(x, budget: int):
    """-(PEFT params / budget) read back exactly from the last feature (works on torch tensors)."""
    return -(x[..., -1:] * math.log1p(budget)).expm1() / budget
