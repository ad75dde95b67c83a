"""What the attached modules do: identity at init, where gradients go, merge, detach, masks."""

import random

import pytest
import torch

from autopeft.methods.attach import apply
from autopeft.methods.candidate import Candidate
from autopeft.methods.lora.module import merge
from autopeft.methods.registry import METHODS
from autopeft.space.loader import bind_space
from tests.helpers.models import tiny_bert_config, tiny_llama_config

IDS = torch.tensor([[2, 5, 9, 14, 3, 7, 1], [2, 8, 11, 4, 6, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]])


@pytest.fixture(scope="module")
def bert():
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(tiny_bert_config()).eval()


def _logits(model, ids=IDS, mask=MASK):
    return model(input_ids=ids, attention_mask=mask).logits


def _every_layer(layer, glob=None, n=3):
    return Candidate([layer] * n, glob or {})


ALL_OF_EACH = {
    "lora": {"q": 4, "k": 2, "v": 4, "o": 2, "ffn_in": 4, "ffn_out": 2},
    "serial_adapter": {"attn": 8, "ffn": 4},
    "parallel_adapter": {"attn": 8, "ffn": 4},
    "prefix": {"length": 5},
    "bitfit": {s: 1 for s in METHODS["bitfit"].slots},
    "prompt": {"insert": 1},
    "ia3": {"k": 1, "v": 1, "ffn": 1},
}


@pytest.mark.parametrize("method", list(ALL_OF_EACH))
def test_identity_at_init_where_the_paper_says_so(bert, method):
    base = _logits(bert)
    peft = apply(bert, _every_layer({method: ALL_OF_EACH[method]}))
    try:
        out = _logits(bert)
        if METHODS[method].identity_at_init:
            torch.testing.assert_close(out, base, atol=1e-6, rtol=1e-5)
        else:
            assert not torch.allclose(out, base, atol=1e-6)  # the module is really in the path
    finally:
        peft.detach()
    torch.testing.assert_close(_logits(bert), base)


def test_gradients_reach_only_peft_parameters_and_the_head(bert):
    hybrid = {m: ALL_OF_EACH[m] for m in ("lora", "serial_adapter", "prefix", "ia3", "prompt", "bitfit")}
    peft = apply(bert, _every_layer(hybrid, {"prefix": {"reparam": True}}))
    try:
        # push the zero-initialised up-projections off zero so that every parameter gets a gradient
        with torch.no_grad():
            for _, p in peft.groups["serial_adapter"]:
                p.add_(0.01)
            for _, p in peft.groups["lora"]:
                p.add_(0.01)
        _logits(bert).pow(2).sum().backward()
        allowed = {id(p) for ps in peft.param_groups().values() for p in ps}
        for name, p in bert.named_parameters():
            if id(p) in allowed:
                assert p.grad is not None and p.grad.abs().sum() > 0, name
            else:
                assert p.grad is None, name
    finally:
        bert.zero_grad(set_to_none=True)
        peft.detach()


def test_merged_lora_equals_unmerged(bert):
    peft = apply(bert, _every_layer({"lora": ALL_OF_EACH["lora"]}))
    try:
        with torch.no_grad():
            for _, p in peft.groups["lora"]:
                p.normal_(0, 0.1)
        unmerged = _logits(bert)
        for module in bert.modules():
            if hasattr(module, "autopeft_lora"):
                merge(module)
        torch.testing.assert_close(_logits(bert), unmerged, atol=1e-5, rtol=1e-4)
    finally:
        peft.detach()  # also unmerges


def test_detach_restores_trained_biases(bert):
    base = _logits(bert)
    peft = apply(bert, _every_layer({"bitfit": ALL_OF_EACH["bitfit"]}))
    with torch.no_grad():
        for _, p in peft.groups["bitfit"]:
            p.add_(1.0)
    assert not torch.allclose(_logits(bert), base)
    peft.detach()
    torch.testing.assert_close(_logits(bert), base)
    assert bert.config._attn_implementation == "sdpa"


@pytest.mark.parametrize("method", ["prefix", "prompt"])
@pytest.mark.parametrize("position", ["after_cls", "before_cls"])
def test_padding_does_not_change_prefix_or_prompt_outputs(bert, method, position):
    """Mask handling: a sequence padded with extra tokens scores as the unpadded one."""
    glob = {"prompt": {"position": position, "length": 3}} if method == "prompt" else {}
    layer = {"prompt": {"insert": 1}} if method == "prompt" else {"prefix": {"length": 4}}
    cand = Candidate([layer, {}, layer], glob)
    peft = apply(bert, cand)
    try:
        short = _logits(bert, IDS[1:, :5], MASK[1:, :5])
        padded = _logits(bert, IDS[1:], MASK[1:])
        torch.testing.assert_close(short, padded, atol=1e-5, rtol=1e-4)
    finally:
        peft.detach()


def test_deep_prompt_replaces_previous_prompt_outputs(bert):
    shallow = Candidate([{"prompt": {"insert": 1}}, {}, {}], {"prompt": {"length": 2}})
    deep = Candidate([{"prompt": {"insert": 1}}] * 3, {"prompt": {"length": 2}})
    lengths = []

    def record(module, args, kwargs, output):
        lengths.append(output[0].shape[1] if isinstance(output, tuple) else output.shape[1])

    for cand in (shallow, deep):
        peft = apply(bert, cand)
        handle = bert.bert.encoder.layer[2].register_forward_hook(record, with_kwargs=True)
        try:
            _logits(bert)
        finally:
            handle.remove()
            peft.detach()
    assert lengths == [IDS.shape[1] + 2, IDS.shape[1] + 2]  # deep prompts replace, never pile up


def test_vit_prompts_and_prefix():
    from transformers import ViTConfig, ViTForImageClassification

    torch.manual_seed(0)
    model = ViTForImageClassification(
        ViTConfig(hidden_size=32, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64, image_size=16,
                  patch_size=4, num_channels=1, num_labels=10)
    ).eval()
    pixels = torch.randn(2, 1, 16, 16)
    base = model(pixel_values=pixels).logits
    peft = apply(model, Candidate([{"prompt": {"insert": 1}, "prefix": {"length": 3}, "lora": {"q": 2}}] * 2))
    out = model(pixel_values=pixels).logits
    out.sum().backward()
    assert out.shape == base.shape and not torch.allclose(out, base)
    assert all(p.grad is not None for ps in peft.param_groups().values() for p in ps if p.requires_grad)
    peft.detach()
    torch.testing.assert_close(model(pixel_values=pixels).logits, base)


def test_random_hybrids_on_llama_are_identity_and_detach_cleanly():
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(0)
    model = LlamaForSequenceClassification(tiny_llama_config()).eval()
    ids = torch.tensor([[5, 9, 14, 3, 7, 1, 8], [4, 8, 11, 4, 6, 9, 2]])
    base = model(input_ids=ids).logits
    bound = bind_space("full", model.config.to_dict())
    rng = random.Random(3)
    for _ in range(20):
        _, cand = bound.sample(rng)
        peft = apply(model, cand)
        torch.testing.assert_close(model(input_ids=ids).logits, base, atol=1e-5, rtol=1e-4)
        peft.detach()
    torch.testing.assert_close(model(input_ids=ids).logits, base)


def test_wrong_depth_candidate_is_a_clear_error(bert):
    from autopeft.errors import UserError

    with pytest.raises(UserError, match="candidate has 2 layers but the model has 3"):
        apply(bert, Candidate([{"lora": {"q": 2}}] * 2))
