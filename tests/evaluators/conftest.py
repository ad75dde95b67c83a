"""Tiny backbones and tasks written by the tests themselves (no hub, seconds to train)."""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

POSITIVE = ["good", "great", "nice", "fine", "happy"]
NEGATIVE = ["bad", "awful", "poor", "sad", "ugly"]
FILLER = ["the", "a", "movie", "was", "very", "really", "food", "day", "it", "so"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encodings go to a per-session temp cache, never the user's."""
    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path_factory.getbasetemp() / "autopeft-cache"))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer BERT (hidden 32) with a word-level vocabulary, saved as a checkpoint directory."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    folder = tmp_path_factory.mktemp("tiny-bert")
    words = SPECIAL + POSITIVE + NEGATIVE + FILLER + [f"w{i}" for i in range(60)]
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=64, max_position_embeddings=64,
                        initializer_range=0.2)  # wide enough init that a random 2-layer model carries words to [CLS]
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)  # with its pooler, as AutoModel loads
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer ViT for 28x28 grey images (hidden 32), saved as a checkpoint directory."""
    return save_tiny_vit(tmp_path_factory.mktemp("tiny-vit"))


def save_tiny_vit(folder: Path) -> str:
    """Write the tiny ViT of `tiny_vit` to `folder` (also used by the search tests)."""
    import torch
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(image_size=28, patch_size=7, num_channels=1, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64, initializer_range=0.2)
    torch.manual_seed(0)
    ViTModel(config).save_pretrained(folder)
    return str(folder)


def write_image_folder(root: Path, per_class: int = 60) -> Path:
    """Two classes of 32x32 RGB images: bright squares top-left vs bottom-right."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("left", "right"):
        folder = root / label
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 60, size=(32, 32, 3), dtype=np.uint8)
            if label == "left":
                img[2:14, 2:14] = 250
            else:
                img[18:30, 18:30] = 250
            Image.fromarray(img).save(folder / f"{i}.png")
    return root


def sentiment_rows(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """Sentences whose label is given by a sentiment word among fillers."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = rng.sample(FILLER, rng.randint(2, 8)) + [rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    """A CSV file with a header row."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture
def helpers():
    """The row and file writers, for tests that build their own files."""
    import types

    return types.SimpleNamespace(sentiment_rows=sentiment_rows, write_csv=write_csv)


@pytest.fixture
def sentiment_csv(tmp_path: Path) -> Path:
    """A one-text-column classification CSV (text, label)."""
    return write_csv(tmp_path / "sentiment.csv", ["text", "label"], sentiment_rows(400))
