"""Pareto fronts over (score up, PEFT parameters down) and their hypervolume.

The reference point (DESIGN.md) is (the task's chance score -- majority class, or 0 for MCC and
correlations -- , the budget): a point counts only if it beats chance within the budget.
Parameters are divided by the budget so both axes are of order one.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


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


def hypervolume_2d(scores: Sequence[float], params: Sequence[float], ref_score: float, budget: float) -> float:
    """The same area by a sweep (no torch): used by tests as an independent check."""
    pts = sorted((p / budget, s) for s, p in zip(scores, params, strict=True) if s > ref_score and p < budget)
    area, best = 0.0, ref_score
    for i, (x, s) in enumerate(pts):
        best = max(best, s)
        nxt = pts[i + 1][0] if i + 1 < len(pts) else 1.0
        area += (nxt - x) * (best - ref_score)
    return area
