import numpy as np

from autopeft.evaluators.batches import collate, eval_batches, train_batches
from autopeft.evaluators.encoded import EncodedSplit, EncodedTask
from autopeft.evaluators.tasks.spec import TaskSpec


def _split(lengths):
    ids = np.concatenate([np.arange(1, n + 1) for n in lengths]).astype(np.int32)
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    return EncodedSplit(np.arange(len(lengths)) % 2, ids, offsets, np.zeros(len(ids), dtype=np.int8))


def test_dynamic_padding_pads_to_the_longest_in_the_batch():
    split = _split([3, 5, 2])
    task = EncodedTask(TaskSpec("t", "text", "accuracy", ("a", "b")), {"train": split}, pad_id=0)
    batch = collate(task, split, np.array([0, 2]))
    assert batch["input_ids"].shape == (2, 3)
    assert batch["attention_mask"].tolist() == [[1, 1, 1], [1, 1, 0]]
    assert batch["input_ids"][1].tolist() == [1, 2, 0]
    assert collate(task, split, np.array([0, 2]), pad_to=8)["input_ids"].shape == (2, 8)


def test_length_grouped_batches_cover_every_example_and_group_lengths():
    rng = np.random.default_rng(0)
    lengths = rng.integers(5, 120, size=1000)
    gen = train_batches(lengths, 10, np.random.default_rng(1))
    batches = [next(gen) for _ in range(100)]  # one epoch
    assert sorted(np.concatenate(batches).tolist()) == list(range(1000))
    grouped_pad = np.mean([lengths[b].max() - lengths[b].mean() for b in batches])
    gen = train_batches(lengths, 10, np.random.default_rng(1), group_by_length=False)
    random_pad = np.mean([lengths[b].max() - lengths[b].mean() for b in (next(gen) for _ in range(100))])
    assert grouped_pad < random_pad / 3


def test_eval_batches_sort_by_length_and_select_keeps_sequences():
    split = _split([3, 5, 2, 4])
    order = np.concatenate(eval_batches(split.lengths, 2))
    assert order.tolist() == [1, 3, 0, 2]
    sub = split.select(np.array([3, 1]))
    assert sub.lengths.tolist() == [4, 5]
    assert sub.ids[:4].tolist() == [1, 2, 3, 4] and sub.labels.tolist() == [1, 1]
