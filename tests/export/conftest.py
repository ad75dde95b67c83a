"""A tiny local backbone for the export tests (run directories: tests/helpers/runs.py)."""

from __future__ import annotations

import pytest
import torch


@pytest.fixture(scope="session")
def backbone(tmp_path_factory) -> str:
    """A BERT with hidden size 32 and 2 layers, saved like a hub checkpoint."""
    from transformers import BertConfig, BertModel

    torch.manual_seed(0)
    config = BertConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                        vocab_size=120, max_position_embeddings=64)
    path = tmp_path_factory.mktemp("backbone")
    BertModel(config).save_pretrained(path)
    return str(path)
