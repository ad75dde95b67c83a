"""Encoded splits: token ids (ragged, stored flat with offsets) or uint8 pixels, with labels."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from autopeft.evaluators.tasks.spec import TaskSpec


@dataclass
class EncodedSplit:
    """One split ready for batching; text as flat ids + offsets so no padding is ever stored."""

    labels: np.ndarray
    ids: np.ndarray | None = None  # int32, all sequences concatenated
    offsets: np.ndarray | None = None  # int64, n + 1 boundaries into ids
    type_ids: np.ndarray | None = None  # int8 segment ids (BERT pairs), aligned with ids
    pixels: np.ndarray | None = None  # uint8 (N, C, H, W)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def lengths(self) -> np.ndarray:
        """Tokens per example (all equal for images)."""
        if self.offsets is None:
            return np.ones(len(self), dtype=np.int64)
        return np.diff(self.offsets)

    def text(self) -> tuple[np.ndarray, np.ndarray]:
        """`(ids, offsets)` of a text split (an image split has neither)."""
        if self.ids is None or self.offsets is None:
            raise ValueError("an image split has no token ids")
        return self.ids, self.offsets

    def select(self, index: np.ndarray) -> EncodedSplit:
        """A new split holding the examples at `index`, in that order."""
        index = np.asarray(index, dtype=np.int64)
        if self.pixels is not None:
            return EncodedSplit(self.labels[index], pixels=self.pixels[index])
        ids, offsets = self.text()
        starts, ends = offsets[index], offsets[index + 1]
        pieces = [np.arange(s, e) for s, e in zip(starts, ends, strict=True)]
        flat = np.concatenate(pieces) if pieces else np.array([], dtype=np.int64)
        new_offsets = np.concatenate([[0], np.cumsum(ends - starts)]).astype(np.int64)
        type_ids = self.type_ids[flat] if self.type_ids is not None else None
        return EncodedSplit(self.labels[index], ids[flat], new_offsets, type_ids)

    def tensors(self) -> dict[str, np.ndarray]:
        """The arrays to store (safetensors keys)."""
        names = ("labels", "ids", "offsets", "type_ids", "pixels")
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass
class EncodedTask:
    """A task's encoded splits plus what batching needs (pad id, pixel normalisation)."""

    spec: TaskSpec
    splits: dict[str, EncodedSplit]
    pad_id: int = 0
    pixel_mean: tuple[float, ...] = (0.5,)
    pixel_std: tuple[float, ...] = (0.5,)
    info: dict = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """Examples per split."""
        return {k: len(v) for k, v in self.splits.items()}
