import datasets
import numpy as np

from autopeft.evaluators.tasks.spec import TaskSpec
from autopeft.evaluators.tasks.splits import dedupe, holdout_size, split_unofficial, stratified_indices

SPEC = TaskSpec(name="t", kind="text", metric="accuracy", label_names=("a", "b"))


def test_dedupe_keeps_one_copy_and_drops_conflicting_labels():
    ds = datasets.Dataset.from_dict({"text": ["x", "x", "y", "y", "z"], "label": [0, 0, 0, 1, 1]})
    out, stats = dedupe(ds, SPEC)
    assert sorted(out["text"]) == ["x", "z"]
    assert stats == {"rows": 5, "distinct": 3, "conflicting": 1, "kept": 2}


def test_stratified_holdout_keeps_class_shares_and_is_seeded():
    labels = np.array([0] * 700 + [1] * 300)
    idx = stratified_indices(labels, 100, seed=0)
    assert len(idx) == 100 and np.sum(labels[idx] == 1) == 30
    assert np.array_equal(idx, stratified_indices(labels, 100, seed=0))
    assert not np.array_equal(idx, stratified_indices(labels, 100, seed=1))


def test_unofficial_split_sizes_are_disjoint():
    assert holdout_size(100_000) == 5000 and holdout_size(1000) == 150
    n = 1000
    ds = datasets.Dataset.from_dict({"text": [str(i) for i in range(n)], "label": [i % 3 for i in range(n)]})
    spec = TaskSpec(name="t", kind="text", metric="accuracy", label_names=("a", "b", "c"))
    splits = split_unofficial(ds, spec)
    assert {k: len(v) for k, v in splits.items()} == {"train": 700, "dev": 150, "test": 150}
    seen = [set(v["text"]) for v in splits.values()]
    assert not (seen[0] & seen[1]) and not (seen[0] & seen[2]) and not (seen[1] & seen[2])
