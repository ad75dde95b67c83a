"""Task metrics (GLUE's official ones) computed with numpy from predictions and labels.

Each metric name maps to the values it reports and to the single `score` a search ranks by:
GLUE averages F1 and accuracy (MRPC, QQP) and Pearson and Spearman (STS-B).
"""

from __future__ import annotations

import numpy as np

# metric name -> the values reported beside the score
METRICS: dict[str, tuple[str, ...]] = {
    "accuracy": ("accuracy",),
    "mcc": ("mcc",),
    "f1_accuracy": ("f1", "accuracy"),
    "pearson_spearman": ("pearson", "spearman"),
}
# metrics whose chance level is 0 (a hypervolume reference point uses it instead of a majority vote)
ZERO_CHANCE = frozenset({"mcc", "pearson_spearman"})


def accuracy(preds: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of predictions equal to the labels."""
    return float(np.mean(np.asarray(preds) == np.asarray(labels)))


def f1_binary(preds: np.ndarray, labels: np.ndarray) -> float:
    """F1 of the positive class (label 1), as GLUE reports for MRPC and QQP."""
    preds, labels = np.asarray(preds), np.asarray(labels)
    tp = float(np.sum((preds == 1) & (labels == 1)))
    fp = float(np.sum((preds == 1) & (labels != 1)))
    fn = float(np.sum((preds != 1) & (labels == 1)))
    return 0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn)


def mcc(preds: np.ndarray, labels: np.ndarray) -> float:
    """Matthews correlation coefficient (Gorodkin's multi-class form; the usual one for 2 classes)."""
    preds, labels = np.asarray(preds), np.asarray(labels)
    classes = np.union1d(preds, labels)
    conf = np.array([[np.sum((labels == a) & (preds == b)) for b in classes] for a in classes], dtype=float)
    t, p = conf.sum(axis=1), conf.sum(axis=0)
    n, c = conf.sum(), np.trace(conf)
    denom = np.sqrt((n * n - p @ p) * (n * n - t @ t))
    return 0.0 if denom == 0 else float((c * n - t @ p) / denom)


def pearson(x: np.ndarray, y: np.ndarray) -> float:
    """Pearson correlation; 0 when either side is constant."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    xc, yc = x - x.mean(), y - y.mean()
    denom = np.sqrt((xc @ xc) * (yc @ yc))
    return 0.0 if denom == 0 else float(xc @ yc / denom)


def _ranks(x: np.ndarray) -> np.ndarray:
    """Ranks with ties sharing their average rank (as scipy.stats.rankdata)."""
    x = np.asarray(x, dtype=float)
    order = np.argsort(x, kind="mergesort")
    ranks = np.empty(len(x))
    sorted_x = x[order]
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            ranks[order[start:end]] = (start + end - 1) / 2 + 1
            start = end
    return ranks


def spearman(x: np.ndarray, y: np.ndarray) -> float:
    """Spearman rank correlation (Pearson on average ranks)."""
    return pearson(_ranks(x), _ranks(y))


_FUNCS = {"accuracy": accuracy, "f1": f1_binary, "mcc": mcc, "pearson": pearson, "spearman": spearman}


def compute(metric: str, preds: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """All values of `metric` plus `score` (their mean) for class ids or regression outputs."""
    values = {name: _FUNCS[name](preds, labels) for name in METRICS[metric]}
    values["score"] = float(np.mean(list(values.values())))
    return values


def chance_score(metric: str, train_labels: np.ndarray, eval_labels: np.ndarray) -> float:
    """The score of always predicting the training set's majority class (0 for MCC/correlations)."""
    if metric in ZERO_CHANCE:
        return 0.0
    values, counts = np.unique(np.asarray(train_labels), return_counts=True)
    majority = values[np.argmax(counts)]
    return compute(metric, np.full(len(eval_labels), majority), np.asarray(eval_labels))["score"]
