"""The prefix-aware attention in both kernels: eager (a backbone under bf16 on the CPU) computes
what SDPA does, prompts and prefixes included, on encoders and ViT (decoders, which take neither,
on their own eager attention); detach restores eager."""

import pytest
import torch

from autopeft.methods.attach import apply
from autopeft.methods.attention import EAGER_NAME, NAME
from autopeft.methods.candidate import Candidate
from tests.helpers.models import tiny_bert_config, tiny_llama_config

IDS = torch.tensor([[2, 5, 9, 14, 3, 7, 1], [2, 8, 11, 4, 6, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]])
HYBRID = {"prompt": {"insert": 1}, "prefix": {"length": 3}, "lora": {"q": 2}}
DECODER_HYBRID = {"lora": {"q": 2}, "ia3": {"k": 1, "v": 1, "ffn": 1}}  # no prompts or prefixes on decoders


def _bert():
    from transformers import BertForSequenceClassification

    return BertForSequenceClassification(tiny_bert_config()), dict(input_ids=IDS, attention_mask=MASK)


def _llama():
    from transformers import LlamaForSequenceClassification

    return LlamaForSequenceClassification(tiny_llama_config()), dict(input_ids=IDS + 1, attention_mask=MASK)


def _vit():
    from transformers import ViTConfig, ViTForImageClassification

    config = ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, image_size=16,
                       patch_size=4, num_channels=1, num_labels=10)
    return ViTForImageClassification(config), dict(pixel_values=torch.randn(2, 1, 16, 16))


def _hybrid_logits(model, inputs, layer=None):
    torch.manual_seed(1)
    peft = apply(model, Candidate([layer or HYBRID] * model.config.num_hidden_layers))
    try:
        with torch.no_grad():
            for _, p in (named for group in peft.groups.values() for named in group):
                p.add_(0.1 * torch.randn_like(p))  # off the identity, so the prefix and LoRA matter
        return model(**inputs).logits, model.config._attn_implementation
    finally:
        peft.detach()


@pytest.mark.parametrize("family, layer, kernels", [(_bert, HYBRID, (NAME, EAGER_NAME)),
                                                    (_vit, HYBRID, (NAME, EAGER_NAME)),
                                                    (_llama, DECODER_HYBRID, ("sdpa", "eager"))])
def test_eager_computes_what_sdpa_does_with_prompts_and_prefixes(family, layer, kernels):
    torch.manual_seed(0)
    model, inputs = family()
    model.eval()
    with torch.no_grad():  # a head of a trained model's scale, so logits show what the layers did
        for head in (m for m in model.children() if isinstance(m, torch.nn.Linear)):
            head.weight.mul_(100)
    base = model(**inputs).logits
    sdpa, sdpa_name = _hybrid_logits(model, inputs, layer)
    model.set_attn_implementation("eager")
    eager, eager_name = _hybrid_logits(model, inputs, layer)
    assert (sdpa_name, eager_name) == kernels
    assert model.config._attn_implementation == "eager"  # detach went back to the backbone's kernel
    assert not torch.allclose(sdpa, base, atol=1e-2)  # the negative control: the hybrid changed the output
    torch.testing.assert_close(eager, sdpa, atol=1e-5, rtol=1e-4)


def test_the_eager_kernel_is_the_familys_own(monkeypatch):
    from transformers.models.bert import modeling_bert

    calls = []
    original = modeling_bert.eager_attention_forward

    def counted(*args, **kwargs):
        calls.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(modeling_bert, "eager_attention_forward", counted)
    torch.manual_seed(0)
    model, inputs = _bert()
    _hybrid_logits(model.eval(), inputs)
    assert calls == []  # SDPA: the family's eager function never runs
    model.set_attn_implementation("eager")
    _hybrid_logits(model, inputs)
    assert len(calls) == model.config.num_hidden_layers


@pytest.mark.parametrize("position", ["after_cls", "before_cls"])
def test_padding_does_not_change_eager_prompt_and_prefix_outputs(position):
    torch.manual_seed(0)
    model, _ = _bert()
    model.eval().set_attn_implementation("eager")
    peft = apply(model, Candidate([HYBRID, {}, HYBRID], {"prompt": {"position": position, "length": 3}}))
    try:
        short = model(input_ids=IDS[1:, :5], attention_mask=MASK[1:, :5]).logits
        padded = model(input_ids=IDS[1:], attention_mask=MASK[1:]).logits
        torch.testing.assert_close(short, padded, atol=1e-5, rtol=1e-4)
    finally:
        peft.detach()
