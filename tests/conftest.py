"""Shared fixtures: tiny backbones built from configs, saved as local checkpoint directories."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


def tiny_bert_config(**overrides):
    from transformers import BertConfig

    base = dict(hidden_size=32, num_hidden_layers=3, num_attention_heads=4, intermediate_size=64, vocab_size=100,
                max_position_embeddings=64, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)
    return BertConfig(**(base | overrides))


def tiny_llama_config(**overrides):
    from transformers import LlamaConfig

    base = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                intermediate_size=64, vocab_size=100, pad_token_id=0, max_position_embeddings=64)
    return LlamaConfig(**(base | overrides))


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
