"""Space-filling designs in the candidate encoding: greedy max-min distance (each pick the pool
point farthest from everything taken so far)."""

from __future__ import annotations

import numpy as np


def farthest(pool: np.ndarray, taken: np.ndarray) -> int:
    """The index of the pool row farthest (squared Euclidean) from its nearest taken row."""
    dist = np.min(((pool[:, None, :] - taken[None, :, :]) ** 2).sum(-1), axis=1)
    return int(np.argmax(dist))


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
