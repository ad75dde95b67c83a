import math

import numpy as np
import pytest

from autopeft.evaluators import metrics


def test_accuracy_and_f1_match_hand_computed_values():
    preds = np.array([1, 0, 1, 1, 0, 1])
    labels = np.array([1, 0, 0, 1, 1, 1])
    # tp=3, fp=1, fn=1 -> F1 = 6 / 8; accuracy 4/6
    assert metrics.accuracy(preds, labels) == pytest.approx(4 / 6)
    assert metrics.f1_binary(preds, labels) == pytest.approx(0.75)
    values = metrics.compute("f1_accuracy", preds, labels)
    assert values["score"] == pytest.approx((0.75 + 4 / 6) / 2)


def test_mcc_matches_the_binary_formula():
    preds = np.array([1, 0, 1, 1, 0, 1])
    labels = np.array([1, 0, 0, 1, 1, 1])
    tp, tn, fp, fn = 3, 1, 1, 1
    expected = (tp * tn - fp * fn) / math.sqrt((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn))
    assert metrics.mcc(preds, labels) == pytest.approx(expected)
    assert metrics.mcc(np.zeros(4), np.array([0, 1, 0, 1])) == 0.0  # constant predictions


def test_correlations_match_hand_computed_values():
    x = np.array([1.0, 2.0, 3.0, 4.0])
    y = np.array([2.0, 1.0, 4.0, 3.0])
    # centred: x (-1.5,-.5,.5,1.5), y (-.5,-1.5,1.5,.5): sum xy = .75+.75+.75+.75 = 3; each norm^2 = 5
    assert metrics.pearson(x, y) == pytest.approx(3 / 5)
    assert metrics.spearman(x, y) == pytest.approx(0.6)
    # ties share their average rank: ranks of (1, 1, 2) are (1.5, 1.5, 3)
    assert metrics.spearman(np.array([1.0, 1.0, 2.0]), np.array([1.0, 2.0, 3.0])) == pytest.approx(
        metrics.pearson(np.array([1.5, 1.5, 3.0]), np.array([1.0, 2.0, 3.0]))
    )
    values = metrics.compute("pearson_spearman", x, y)
    assert values == {"pearson": pytest.approx(0.6), "spearman": pytest.approx(0.6), "score": pytest.approx(0.6)}


def test_chance_score_is_the_majority_class_or_zero():
    train = np.array([0, 0, 0, 1, 2])
    assert metrics.chance_score("accuracy", train, np.array([0, 1, 0, 2])) == pytest.approx(0.5)
    assert metrics.chance_score("mcc", train, np.array([0, 1])) == 0.0
