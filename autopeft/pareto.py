"""Pareto fronts over (score up, PEFT parameters down), their step lines and their hypervolume:
one module for the search (arrays) and the reports (data frames).

The reference point (DESIGN.md) is (the task's chance score -- majority class, or 0 for MCC and
correlations -- , the budget): a point counts only if it beats chance within the budget.
Parameters are divided by the budget so both axes are of order one: a single candidate of 0
parameters scoring ref_score + 0.1 has hypervolume 0.1, and runs with different budgets compare.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import pandas as pd


def non_dominated(scores: Sequence[float], params: Sequence[float]) -> np.ndarray:
    """Boolean mask of the points no other point dominates (higher-or-equal score with fewer-or-equal
    parameters, strictly better in one). Exact duplicates are all kept."""
    s = np.asarray(scores, dtype=float)
    p = np.asarray(params, dtype=float)
    if s.size == 0:
        return np.zeros(0, dtype=bool)
    better_eq = (s[None, :] >= s[:, None]) & (p[None, :] <= p[:, None])
    strictly = (s[None, :] > s[:, None]) | (p[None, :] < p[:, None])
    return ~np.any(better_eq & strictly, axis=1)


def hypervolume(scores: Sequence[float], params: Sequence[float], ref_score: float, budget: float) -> float:
    """Area dominated by the points and bounded by (ref_score, budget), params measured in budgets.

    Uses BoTorch's `DominatedPartitioning` (maximisation of (score, -params/budget)); points that
    do not beat the reference point contribute nothing.
    """
    s = np.asarray(scores, dtype=float)
    p = np.asarray(params, dtype=float)
    keep = np.isfinite(s) & (s > ref_score) & (p < budget)
    if not keep.any():
        return 0.0
    import torch
    from botorch.utils.multi_objective.box_decompositions.dominated import DominatedPartitioning

    y = torch.tensor(np.stack([s[keep], -p[keep] / budget], axis=1), dtype=torch.double)
    ref = torch.tensor([ref_score, -1.0], dtype=torch.double)
    return float(DominatedPartitioning(ref_point=ref, Y=y).compute_hypervolume())


def pareto_front(df: pd.DataFrame) -> pd.DataFrame:
    """The non-dominated rows of `df` over (score ↑, peft_params ↓), sorted by parameters; of exact
    ties the earlier row is kept (one point per position on a plot)."""
    if df.empty:
        return df.copy()
    ordered = df.sort_values(["peft_params", "score"], ascending=[True, False], kind="mergesort")  # stable
    keep, best = [], float("-inf")
    for pos, score in enumerate(ordered["score"]):  # positions: the index may repeat (concatenated frames)
        if score > best:  # a strictly better score for more parameters, or nothing to gain
            keep.append(pos)
            best = score
    return ordered.iloc[keep]


def front_hypervolume(front: pd.DataFrame, ref_score: float, budget: float) -> float:
    """`hypervolume` of a data frame's `score` and `peft_params` columns."""
    return hypervolume(front["score"].astype(float), front["peft_params"].astype(float), ref_score, budget)


def front_steps(front: pd.DataFrame, x: str = "peft_pct", right: float | None = None) -> pd.DataFrame:
    """The step line through a front: the best score reachable with at most x parameters.

    Returns columns `x, score`: each member, then a horizontal run to the next member's x (and to
    `right`, e.g. the budget, after the last)."""
    import pandas as pd

    pts = front.dropna(subset=[x, "score"]).sort_values(x)
    xs: list[float] = []
    ys: list[float] = []
    for i, (px, py) in enumerate(zip(pts[x], pts["score"], strict=True)):
        if i:
            xs.append(px)
            ys.append(ys[-1])
        xs.append(px)
        ys.append(py)
    if xs and right is not None and right > xs[-1]:
        xs.append(right)
        ys.append(ys[-1])
    return pd.DataFrame({"x": xs, "score": ys})
