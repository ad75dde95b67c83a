"""Tiny backbones: configs to build in memory, and checkpoint directories with a word-level vocabulary."""

from __future__ import annotations

from pathlib import Path

from tests.helpers.data import FILLER, NEGATIVE, POSITIVE, SPECIAL, sentiment_rows, write_csv


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


def save_tiny_bert(folder: Path, extra_words: int = 0, hidden: int = 32) -> str:
    """A 2-layer BERT (hidden 32) and a tokenizer knowing the sentiment words (plus `w0`.. `wN-1`)."""
    import torch
    from transformers import BertConfig, BertModel, BertTokenizerFast

    words = SPECIAL + POSITIVE + NEGATIVE + FILLER + [f"w{i}" for i in range(extra_words)]
    tokenizer = BertTokenizerFast(vocab={w: i for i, w in enumerate(words)}, do_lower_case=True)
    config = BertConfig(vocab_size=len(tokenizer), hidden_size=hidden, num_hidden_layers=2, num_attention_heads=2,
                        intermediate_size=2 * hidden, max_position_embeddings=64,
                        initializer_range=0.2)  # wide enough init that a random 2-layer model carries words to [CLS]
    torch.manual_seed(0)
    BertModel(config).save_pretrained(folder)  # with its pooler, as AutoModel loads
    tokenizer.save_pretrained(folder)
    return str(folder)


def save_tiny_vit(folder: Path) -> str:
    """A 2-layer ViT for 28x28 grey images (hidden 32), written to `folder`."""
    import torch
    from transformers import ViTConfig, ViTModel

    config = ViTConfig(image_size=28, patch_size=7, num_channels=1, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64, initializer_range=0.2)
    torch.manual_seed(0)
    ViTModel(config).save_pretrained(folder)
    return str(folder)


def tiny_task(tmp_path: Path) -> tuple[str, str]:
    """A tiny BERT and a 300-row sentiment CSV it can learn in a few steps: (model dir, task file)."""
    model = save_tiny_bert(tmp_path / "tiny-bert")
    return model, str(write_csv(tmp_path / "s.csv", ["text", "label"], sentiment_rows(300)))
