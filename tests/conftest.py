"""Shared fixtures: tiny backbones built from configs, saved as local checkpoint directories.

Plain helpers (configs, task files, run directories) are in tests/helpers/, for test files to import."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

# Triton reads TRITON_INTERPRET when it is first imported and when a kernel is decorated: set it for
# the whole session on a machine without CUDA, before any test imports triton, so its kernels run
# under the interpreter (tests/methods/test_kernels_triton.py); no other code path reads it
if not os.environ.get("CUDA_VISIBLE_DEVICES") and not Path("/dev/nvidiactl").exists():
    os.environ.setdefault("TRITON_INTERPRET", "1")

from tests.helpers.models import tiny_bert_config


@pytest.fixture(scope="session")
def minilm_config() -> dict:
    """The embedded MiniLM's config.json (no weights loaded)."""
    from autopeft.backbones import load_config

    return load_config("minilm")


@pytest.fixture()
def tiny_bert_dir(tmp_path: Path) -> Path:
    """A tiny BERT sequence classifier saved as a local checkpoint directory."""
    import torch
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_bert_config())
    out = tmp_path / "tiny-bert"
    model.save_pretrained(out)
    assert json.loads((out / "config.json").read_text())["model_type"] == "bert"
    return out


@pytest.fixture(scope="session")
def backbone(tmp_path_factory) -> str:
    """A BERT with hidden size 32 and 2 layers, saved like a hub checkpoint (exports and the peft round
    trips load it by path)."""
    import torch
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        vocab_size=120, max_position_embeddings=64)
    path = tmp_path_factory.mktemp("backbone")
    BertModel(config).save_pretrained(path)
    return str(path)


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
