"""The analytic count equals the built model's trainable PEFT parameters, parameter for parameter."""

import random

import pytest
import torch

from autopeft.methods.attach import apply
from autopeft.space.loader import bind_space
from tests.helpers.models import tiny_llama_config


def _trainable_peft(peft) -> int:
    head = {id(p) for _, p in peft.head_parameters()}
    return sum(p.numel() for p in peft.model.parameters() if p.requires_grad and id(p) not in head)


def _check_random_candidates(model, n: int, seed: int) -> None:
    bound = bind_space("full", model.config.to_dict(), num_labels=model.config.num_labels)
    rng = random.Random(seed)
    for _ in range(n):
        _, cand = bound.sample(rng)
        expected = bound.count(cand)
        peft = apply(model, cand)
        try:
            assert _trainable_peft(peft) == expected.train_params, cand
            assert peft.head_params == expected.head_params
            peft.fold()
            assert _trainable_peft(peft) == expected.peft_params, cand
        finally:
            peft.detach()
        assert not any(p.requires_grad for p in model.base_model.parameters())


def test_200_random_full_candidates_on_minilm(minilm_config):
    from transformers import AutoConfig, BertForSequenceClassification

    config = AutoConfig.for_model(**minilm_config)
    config.num_labels = 3
    with torch.device("meta"):  # the count needs shapes, not weights
        model = BertForSequenceClassification(config)
    _check_random_candidates(model, 200, seed=0)


def test_200_random_full_candidates_on_llama_style():
    from transformers import LlamaForSequenceClassification

    _check_random_candidates(LlamaForSequenceClassification(tiny_llama_config()), 200, seed=1)


@pytest.mark.parametrize("family", ["bert", "roberta", "electra", "distilbert", "vit", "llama", "qwen2", "mistral"])
def test_backbone_and_head_counts_match_a_build(family):
    import transformers as tf

    from autopeft.methods.anatomy import dims_from_config, resolve

    small = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, num_labels=3)
    configs = {
        "bert": lambda: tf.BertConfig(vocab_size=99, **small),
        "roberta": lambda: tf.RobertaConfig(vocab_size=99, **small),
        "electra": lambda: tf.ElectraConfig(vocab_size=99, embedding_size=16, **small),
        "distilbert": lambda: tf.DistilBertConfig(
            vocab_size=99, dim=32, n_layers=2, n_heads=4, hidden_dim=64, num_labels=3
        ),
        "vit": lambda: tf.ViTConfig(image_size=16, patch_size=4, num_channels=1, **small),
        "llama": lambda: tiny_llama_config(num_labels=3),
        "qwen2": lambda: tf.Qwen2Config(vocab_size=99, num_key_value_heads=2, pad_token_id=0, **small),
        "mistral": lambda: tf.MistralConfig(vocab_size=99, num_key_value_heads=2, pad_token_id=0, **small),
    }
    config = configs[family]()
    dims = dims_from_config(config.to_dict(), resolve(config.to_dict()))
    backbone = tf.AutoModel.from_config(config)
    assert dims.backbone_params == sum(p.numel() for p in backbone.parameters())
    auto = tf.AutoModelForImageClassification if family == "vit" else tf.AutoModelForSequenceClassification
    task = auto.from_config(config)
    inside = {id(p) for p in task.base_model.parameters()}
    assert dims.head_params(3) == sum(p.numel() for p in task.parameters() if id(p) not in inside)


def test_minilm_backbone_count_is_designs_figure(minilm_config):
    from autopeft.methods.anatomy import dims_from_config, resolve

    assert dims_from_config(minilm_config, resolve(minilm_config)).backbone_params == 22_713_216
