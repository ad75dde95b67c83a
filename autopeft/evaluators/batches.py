"""Batches: length-grouped sampling for training, length-sorted evaluation, and dynamic padding
(a batch is padded to its own longest sequence, so a 25-token tweet is never padded to 128)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from autopeft.evaluators.encoded import EncodedSplit, EncodedTask

MEGABATCH = 50  # batches per length-sorted group (as HF's LengthGroupedSampler)


def train_batches(lengths: np.ndarray, batch_size: int, rng: np.random.Generator,
                  group_by_length: bool = True) -> Iterator[np.ndarray]:
    """Endless batches of indices: each epoch shuffled; within groups of 50 batches, sorted by length.

    Grouping keeps batches of similar lengths (little padding) while the batch order stays random.
    """
    n = len(lengths)
    while True:
        order = rng.permutation(n)
        if group_by_length:
            chunk = batch_size * MEGABATCH
            groups = [order[i : i + chunk] for i in range(0, n, chunk)]
            order = np.concatenate([g[np.argsort(-lengths[g], kind="stable")] for g in groups])
        batches = [order[i : i + batch_size] for i in range(0, n, batch_size)]
        for b in rng.permutation(len(batches)):
            yield batches[b]


def eval_batches(lengths: np.ndarray, batch_size: int) -> list[np.ndarray]:
    """Batches of indices sorted by length (least padding); predictions are put back by index."""
    order = np.argsort(-lengths, kind="stable")
    return [order[i : i + batch_size] for i in range(0, len(order), batch_size)]


def collate(task: EncodedTask, split: EncodedSplit, index: np.ndarray, pad_to: int | None = None) -> dict[str, Any]:
    """Model inputs for the examples at `index` as torch tensors (padded to the batch's longest,
    or to `pad_to` when given, which is how static padding is measured)."""
    import torch

    labels = torch.from_numpy(split.labels[index])
    if split.pixels is not None:
        pixels = torch.from_numpy(split.pixels[index]).float().div_(255.0)
        c = pixels.shape[1]
        mean = torch.tensor(task.pixel_mean[:c] if len(task.pixel_mean) >= c else task.pixel_mean * c)
        std = torch.tensor(task.pixel_std[:c] if len(task.pixel_std) >= c else task.pixel_std * c)
        pixels = (pixels - mean.view(1, -1, 1, 1)) / std.view(1, -1, 1, 1)
        return {"pixel_values": pixels, "labels": labels}
    token_ids, offsets = split.text()
    starts, ends = offsets[index], offsets[index + 1]
    width = int((ends - starts).max()) if pad_to is None else pad_to
    ids = np.full((len(index), width), task.pad_id, dtype=np.int64)
    mask = np.zeros((len(index), width), dtype=np.int64)
    type_ids = split.type_ids
    types = np.zeros((len(index), width), dtype=np.int64) if type_ids is not None else None
    for row, (s, e) in enumerate(zip(starts, ends, strict=True)):
        ids[row, : e - s] = token_ids[s:e]
        mask[row, : e - s] = 1
        if types is not None and type_ids is not None:
            types[row, : e - s] = type_ids[s:e]
    batch = {"input_ids": torch.from_numpy(ids), "attention_mask": torch.from_numpy(mask), "labels": labels}
    if types is not None:
        batch["token_type_ids"] = torch.from_numpy(types)
    return batch
