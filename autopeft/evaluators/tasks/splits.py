"""Seeded stratified hold-outs, deduplication and conflicting-label removal."""

from __future__ import annotations

from typing import Any

import numpy as np

from autopeft.evaluators.tasks.spec import LABEL, REGRESSION, TEXT, TEXT_PAIR, TaskSpec

SPLIT_SEED = 0  # fixed, so every candidate and seed is selected on the same dev split
HOLDOUT_MAX, HOLDOUT_FRACTION = 5000, 0.15


def holdout_size(n: int) -> int:
    """Size of a held-out split: 5,000 examples or 15% of the pool, whichever is smaller."""
    return max(1, min(HOLDOUT_MAX, int(round(HOLDOUT_FRACTION * n))))


def _strata(labels: np.ndarray, regression: bool) -> np.ndarray:
    if not regression:
        return labels
    # regression labels are stratified by decile so dev covers the range like train does
    edges = np.quantile(labels, np.linspace(0, 1, 11)[1:-1])
    return np.searchsorted(edges, labels)


def stratified_indices(labels: np.ndarray, size: int, seed: int, regression: bool = False) -> np.ndarray:
    """Indices of a seeded sample of `size` with each stratum's share kept (largest remainder)."""
    labels = np.asarray(labels)
    strata = _strata(labels, regression)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(strata, return_counts=True)
    exact = counts * size / len(labels)
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take))[: size - take.sum()]:
        take[i] += 1
    chosen = [rng.permutation(np.flatnonzero(strata == c))[:k] for c, k in zip(classes, take, strict=True)]
    return np.sort(np.concatenate(chosen)) if chosen else np.array([], dtype=int)


def hold_out(ds: Any, size: int, seed: int = SPLIT_SEED, regression: bool = False) -> tuple[Any, Any]:
    """Split a dataset into (rest, held-out of `size`), stratified on its label."""
    labels = np.asarray(ds[LABEL])
    held = stratified_indices(labels, size, seed, regression)
    mask = np.ones(len(labels), dtype=bool)
    mask[held] = False
    return ds.select(np.flatnonzero(mask)), ds.select(held)


def dedupe(ds: Any, spec: TaskSpec) -> tuple[Any, dict[str, int]]:
    """Keep one copy of each input; drop inputs seen with different labels (classification)."""
    keys = list(zip(ds[TEXT], ds[TEXT_PAIR], strict=True)) if spec.pair else list(ds[TEXT])
    labels = list(ds[LABEL])
    first: dict[Any, int] = {}
    conflicting: set[Any] = set()
    for i, (key, label) in enumerate(zip(keys, labels, strict=True)):
        if key not in first:
            first[key] = i
        elif spec.problem_type != REGRESSION and labels[first[key]] != label:
            conflicting.add(key)
    keep = sorted(i for key, i in first.items() if key not in conflicting)
    stats = {"rows": len(keys), "distinct": len(first), "conflicting": len(conflicting), "kept": len(keep)}
    return ds.select(keep), stats


def split_unofficial(ds: Any, spec: TaskSpec) -> dict[str, Any]:
    """train / dev / test for data without an official split (DESIGN: 5,000 or 15% each)."""
    regression = spec.problem_type == REGRESSION
    size = holdout_size(len(ds))
    rest, test = hold_out(ds, size, SPLIT_SEED, regression)
    train, dev = hold_out(rest, size, SPLIT_SEED + 1, regression)
    return {"train": train, "dev": dev, "test": test}


def split_official(train: Any, spec: TaskSpec) -> tuple[Any, Any]:
    """(train, dev): the selection split held out from an official training split."""
    return hold_out(train, holdout_size(len(train)), SPLIT_SEED, spec.problem_type == REGRESSION)
