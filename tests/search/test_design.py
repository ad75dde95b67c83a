"""Greedy max-min designs: each pick is the point farthest from what is already taken."""

import numpy as np

from autopeft.search.design import farthest, maxmin_order


def test_farthest_is_the_point_far_from_every_taken_one():
    pool = np.array([[0.1, 0.0], [1.0, 1.0], [0.0, 0.2]])
    assert farthest(pool, np.array([[0.0, 0.0]])) == 1


def test_maxmin_order_spreads_over_clusters_before_repeating_one():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    pool = np.concatenate([c + 0.01 * rng.standard_normal((20, 2)) for c in centres])  # 4 tight clusters
    picks = maxmin_order(pool, np.array([[0.0, 0.0]]), 3)
    assert sorted(i // 20 for i in picks) == [1, 2, 3]  # the three clusters not yet taken, one each
    assert len(set(maxmin_order(pool, np.zeros((0, 2)), 10))) == 10  # no repeats; starts anywhere
    assert len(maxmin_order(pool, np.zeros((0, 2)), 100)) == 80  # never more than the pool
