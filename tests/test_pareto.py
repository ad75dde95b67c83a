import numpy as np

from autopeft.pareto import hypervolume, non_dominated


def hypervolume_2d(scores, params, ref_score: float, budget: float) -> float:
    """The same area as `hypervolume` by a sweep (no BoTorch): an independent check."""
    pts = sorted((p / budget, s) for s, p in zip(scores, params, strict=True) if s > ref_score and p < budget)
    area, best = 0.0, ref_score
    for i, (x, s) in enumerate(pts):
        best = max(best, s)
        nxt = pts[i + 1][0] if i + 1 < len(pts) else 1.0
        area += (nxt - x) * (best - ref_score)
    return area


def test_non_dominated_by_hand():
    scores = [0.5, 0.6, 0.55, 0.6, 0.4]
    params = [10, 20, 30, 20, 5]
    # (0.55, 30) is dominated by (0.6, 20); the two equal (0.6, 20) points are both kept
    assert non_dominated(scores, params).tolist() == [True, True, False, True, True]


def test_hypervolume_matches_a_sweep_and_ignores_points_beyond_the_reference():
    rng = np.random.default_rng(0)
    for _ in range(5):
        s = rng.uniform(0.3, 0.9, 12)
        p = rng.uniform(0, 1.2e5, 12)
        assert np.isclose(hypervolume(s, p, 0.4, 1e5), hypervolume_2d(s, p, 0.4, 1e5))
    assert hypervolume([0.9], [50], 0.4, 100) == np.float64(0.5 * 0.5)
    assert hypervolume([0.3, 0.9], [10, 200], 0.4, 100) == 0.0  # below chance, over budget
