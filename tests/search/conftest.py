"""Search test helpers: a small space file and a synthetic search runner."""

from __future__ import annotations

from pathlib import Path

import pytest

SMALL_SPACE = """\
version: 1
name: small
methods:
  lora:
    tie: layer
    sizes: {q: [0, 2, 8, 16], v: [0, 2, 8, 16]}
  serial_adapter:
    tie: all
    sizes: {ffn: [0, 4, 16, 64]}
  prefix:
    tie: all
    sizes: {length: [0, 5, 20]}
"""


@pytest.fixture()
def small_space(tmp_path: Path) -> str:
    """A 15-gene space on MiniLM (per-layer LoRA q/v, shared adapter and prefix sizes)."""
    path = tmp_path / "small.yaml"
    path.write_text(SMALL_SPACE)
    return str(path)
