"""Tiny backbones and tasks written by the tests themselves (no hub, seconds to train)."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.data import sentiment_rows, write_csv
from tests.helpers.models import save_tiny_bert, save_tiny_vit


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Encodings go to a per-session temp cache, never the user's."""
    monkeypatch.setenv("AUTOPEFT_CACHE", str(tmp_path_factory.getbasetemp() / "autopeft-cache"))


@pytest.fixture(scope="session")
def tiny_bert(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer BERT (hidden 32) with a word-level vocabulary, saved as a checkpoint directory."""
    return save_tiny_bert(tmp_path_factory.mktemp("tiny-bert"), extra_words=60)


@pytest.fixture(scope="session")
def tiny_vit(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A 2-layer ViT for 28x28 grey images (hidden 32), saved as a checkpoint directory."""
    return save_tiny_vit(tmp_path_factory.mktemp("tiny-vit"))


@pytest.fixture
def sentiment_csv(tmp_path: Path) -> Path:
    """A one-text-column classification CSV (text, label)."""
    return write_csv(tmp_path / "sentiment.csv", ["text", "label"], sentiment_rows(400))
