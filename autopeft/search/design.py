"""Space-filling designs in the candidate encoding: greedy max-min distance (each pick the pool
point farthest from everything taken so far)."""

from __future__ import annotations

import numpy as np


def maxmin_order(pool: np.ndarray, taken: np.ndarray, k: int) -> list[int]:
    """Up to `k` pool indices chosen greedily by max-min distance from `taken` and earlier picks."""
    if not len(pool) or k <= 0:
        return []
    if not len(taken):
        taken = pool[:1]
        picks = [0]
    else:
        picks = []
    nearest = np.min(((pool[:, None, :] - taken[None, :, :]) ** 2).sum(-1), axis=1)
    nearest[picks] = -np.inf
    while len(picks) < min(k, len(pool)):
        i = int(np.argmax(nearest))
        picks.append(i)
        nearest = np.minimum(nearest, ((pool - pool[i]) ** 2).sum(-1))
        nearest[picks] = -np.inf
    return picks


def stratified_maxmin(pool: np.ndarray, size: np.ndarray, taken: np.ndarray, k: int, bins: int) -> list[int]:
    """Up to `k` pool indices spread over `bins` equal-width bins of `size` (equal shares, a bin
    with fewer points than its share giving the rest to the others), max-min within each bin
    (distances from everything taken so far, in every bin)."""
    if not len(pool) or k <= 0:
        return []
    edges = np.linspace(size.min(), size.max() + 1e-9, bins + 1)
    members = [np.flatnonzero((size >= lo) & (size < hi)) for lo, hi in zip(edges[:-1], edges[1:], strict=True)]
    members = sorted((m for m in members if len(m)), key=len)  # the scarce bins first: their leftovers flow on
    picks: list[int] = []
    for j, idx in enumerate(members):
        share = (k - len(picks)) // (len(members) - j)
        chosen = [int(idx[i]) for i in maxmin_order(pool[idx], taken, share)]
        picks += chosen
        taken = np.concatenate([taken, pool[chosen]]) if len(taken) else pool[chosen]
    return picks
