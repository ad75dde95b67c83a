"""Greedy max-min designs: each pick is the point farthest from what is already taken."""

import numpy as np

from autopeft.search.design import maxmin_order, stratified_maxmin


def test_farthest_is_the_point_far_from_every_taken_one():
    pool = np.array([[0.1, 0.0], [1.0, 1.0], [0.0, 0.2]])
    assert maxmin_order(pool, np.array([[0.0, 0.0]]), 1) == [1]


def test_maxmin_order_spreads_over_clusters_before_repeating_one():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    pool = np.concatenate([c + 0.01 * rng.standard_normal((20, 2)) for c in centres])  # 4 tight clusters
    picks = maxmin_order(pool, np.array([[0.0, 0.0]]), 3)
    assert sorted(i // 20 for i in picks) == [1, 2, 3]  # the three clusters not yet taken, one each
    assert len(set(maxmin_order(pool, np.zeros((0, 2)), 10))) == 10  # no repeats; starts anywhere
    assert len(maxmin_order(pool, np.zeros((0, 2)), 100)) == 80  # never more than the pool


def test_stratified_maxmin_covers_every_size_bin():
    rng = np.random.default_rng(1)
    pool = rng.random((200, 3))
    size = np.concatenate([np.full(5, 0.05), rng.uniform(0.5, 1.0, 195)])  # small sizes are scarce
    picks = maxmin_order(pool, np.zeros((0, 3)), 20)
    plain_small = sum(size[i] < 0.25 for i in picks)
    strat = stratified_maxmin(pool, size, np.zeros((0, 3)), 20, bins=4)
    assert len(set(strat)) == 20
    assert sum(size[i] < 0.25 for i in strat) == 5 >= plain_small  # the scarce bin is taken whole
    counts = np.histogram(size[strat], bins=np.linspace(0.05, 1.0 + 1e-9, 5))[0]
    assert counts[0] == 5 and all(c >= 4 for c in counts), counts  # every bin gets its share
