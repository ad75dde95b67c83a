"""methods/kernels: the fused path computes what the plain hooks compute, outputs and gradients,
for every combination of branches on one linear, in float32 (tight) and bfloat16 autocast (stated
tolerance); parameters, counts, exports and detach are unchanged; negative controls fail."""

import itertools
import random

import pytest
import torch
from torch import nn

from autopeft.errors import UserError
from autopeft.methods.attach import apply
from autopeft.methods.candidate import Candidate
from autopeft.methods.kernels import fuse as fuse_module
from autopeft.methods.kernels.branch_up import branch_up
from autopeft.methods.kernels.fuse import fuse
from autopeft.methods.kernels.reference import branch_up_reference
from autopeft.methods.kernels.select import resolve_kernels
from tests.helpers.models import tiny_bert_config, tiny_llama_config

IDS = torch.tensor([[2, 5, 9, 14, 3, 7, 1], [2, 8, 11, 4, 6, 0, 0]])
MASK = torch.tensor([[1, 1, 1, 1, 1, 1, 1], [1, 1, 1, 1, 1, 0, 0]])
FP32 = {"atol": 1e-5, "rtol": 1e-5}
BF16 = {"atol": 3e-2, "rtol": 3e-2}  # bf16 keeps 8 bits: the fused path rounds in another order

# every branch a linear can carry: q/k/v (LoRA, (IA)^3 on k and v), o and ffn_out (LoRA, parallel
# and serial adapters), ffn_in (LoRA), plus (IA)^3's input scale on ffn_out
BRANCHES = {
    "lora": {"q": 4, "k": 2, "v": 4, "o": 2, "ffn_in": 4, "ffn_out": 2},
    "ia3": {"k": 1, "v": 1, "ffn": 1},
    "parallel_adapter": {"attn": 8, "ffn": 4},
    "serial_adapter": {"attn": 8, "ffn": 4},
}
COMBOS = [c for n in range(1, 5) for c in itertools.combinations(BRANCHES, n)]


def _bert():
    from transformers import BertForSequenceClassification

    torch.manual_seed(0)
    return BertForSequenceClassification(tiny_bert_config()).train()


def _perturb(peft, seed=1):
    """Move every PEFT tensor off its init (B and U start at zero, which would hide mistakes)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for params in peft.groups.values():  # PEFT tensors only: the head is the model's and outlives detach
            for _, t in params:
                t.add_(torch.randn(t.shape, generator=gen) * 0.2)


def _run(model, candidate, kernels, autocast=False, seed=1):
    """Logits and every trainable tensor's gradient with `candidate` attached under `kernels`."""
    torch.manual_seed(seed)  # LoRA's A is drawn at attach time
    peft = apply(model, candidate)
    try:
        _perturb(peft, seed)
        fused = fuse(peft, kernels)
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
            logits = model(input_ids=IDS, attention_mask=MASK).logits
        (logits.float() ** 2).sum().backward()
        grads = {n: p.grad.clone() for n, p in model.named_parameters() if p.requires_grad}
        return logits.detach().float(), grads, fused
    finally:
        peft.detach()
        model.zero_grad(set_to_none=True)


def _assert_same(a, b, tol):
    torch.testing.assert_close(a[0], b[0], **tol)
    assert a[1].keys() == b[1].keys()
    for name in a[1]:
        torch.testing.assert_close(a[1][name], b[1][name], **tol, msg=name)


@pytest.mark.parametrize("combo", COMBOS, ids="+".join)
def test_fused_equals_plain_for_every_combination_of_branches(combo):
    model = _bert()
    cand = Candidate([{m: BRANCHES[m] for m in combo}] * 3, {})
    plain, fused = _run(model, cand, "plain"), _run(model, cand, "fused")
    assert fused[2] > 0 and plain[2] == 0
    _assert_same(plain, fused, FP32)


@pytest.mark.parametrize("combo", [("lora",), tuple(BRANCHES)], ids="+".join)
def test_fused_equals_plain_under_bf16_autocast(combo):
    model = _bert()
    cand = Candidate([{m: BRANCHES[m] for m in combo}] * 3, {})
    _assert_same(_run(model, cand, "plain", autocast=True), _run(model, cand, "fused", autocast=True), BF16)


def test_hybrid_with_every_method_and_a_gated_llama():
    """The whole default space around the fused branches (BitFit, prefix, prompts, LN tuning), and a
    gated FFN (two first projections sharing an input)."""
    model = _bert()
    layer = {**BRANCHES, "bitfit": {"q": 1, "o": 1, "ln": 1}, "prefix": {"length": 3}, "prompt": {"insert": 1}}
    cand = Candidate([layer, {"lora": {"q": 2}}, {"parallel_adapter": {"ffn": 2}, "ia3": {"ffn": 1}}],
                     {"prompt": {"length": 2}})
    _assert_same(_run(model, cand, "plain"), _run(model, cand, "fused"), FP32)
    from transformers import LlamaForSequenceClassification

    torch.manual_seed(0)
    llama = LlamaForSequenceClassification(tiny_llama_config())
    cand = Candidate([{"lora": {"q": 2, "k": 2, "v": 2, "ffn_in": 2, "ffn_out": 2}}] * 2, {})
    ids = {"input_ids": IDS[:, :5]}
    outs = []
    for kernels in ("plain", "fused"):
        torch.manual_seed(1)
        peft = apply(llama, cand)
        _perturb(peft)
        fuse(peft, kernels)
        outs.append(llama(**ids).logits.detach())
        peft.detach()
    torch.testing.assert_close(outs[0], outs[1], **FP32)


def test_negative_control_a_wrong_branch_is_caught(monkeypatch):
    """A fused path that drops the last branch of each up-accumulate must fail the comparison."""
    model = _bert()
    cand = Candidate([{"lora": BRANCHES["lora"], "parallel_adapter": BRANCHES["parallel_adapter"]}] * 3, {})
    plain = _run(model, cand, "plain")

    def wrong(out, h, up, bias, scale, segments, triton):
        return branch_up(out, h[..., :-1], up[:, :-1], bias, scale, [*segments[:-1], (segments[-1][0] - 1,
                         segments[-1][1])], triton)

    monkeypatch.setattr(fuse_module, "branch_up", wrong)
    with pytest.raises(AssertionError):
        _assert_same(plain, _run(model, cand, "fused"), FP32)


def test_gated_and_dropout_branches_stay_plain_and_equal():
    model = _bert()
    cand = Candidate([{"lora": {"q": 2, "v": 2}, "serial_adapter": {"ffn": 4}}] * 3,
                     {"lora": {"gate": True}, "serial_adapter": {"gate": True}})
    plain, fused = _run(model, cand, "plain"), _run(model, cand, "fused")
    assert fused[2] == 0
    _assert_same(plain, fused, FP32)
    peft = apply(model, Candidate([{"lora": {"q": 2}}] * 3, {"lora": {"dropout": 0.1}}))
    assert fuse(peft, "fused") == 0
    peft.detach()


def test_fusing_changes_no_parameter_count_export_or_detach():
    model = _bert()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    hooks = {n: (dict(m._forward_hooks), dict(m._forward_pre_hooks)) for n, m in model.named_modules()}
    cand = Candidate([{m: BRANCHES[m] for m in BRANCHES}] * 3, {})
    plain = apply(model, cand)
    names, counts = set(plain.state_dict()), (plain.peft_params, plain.train_params)
    plain.detach()
    peft = apply(model, cand)
    fuse(peft, "fused")
    assert set(peft.state_dict()) == names and (peft.peft_params, peft.train_params) == counts
    _perturb(peft)
    peft.detach()
    assert {n: (dict(m._forward_hooks), dict(m._forward_pre_hooks)) for n, m in model.named_modules()} == hooks
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k


def test_elastic_sub_networks_fused_equal_plain():
    """The supernet's sliced branches (and its BitFit deltas hooked before them) through the fused hooks."""
    from autopeft.space.loader import bind_space
    from autopeft.supernet import Supernet

    model = _bert()
    bound = bind_space("full", model.config.to_dict())
    nets = {}
    for kernels in ("plain", "fused"):
        torch.manual_seed(0)
        nets[kernels] = net = Supernet(_bert(), bound)
        with torch.no_grad():
            for p in net.parameters():
                p.add_(torch.randn_like(p) * 0.05)
        fuse(net.peft, kernels)
    rng = random.Random(0)
    for _ in range(6):
        _, cand = bound.sample(rng)
        results = []
        for net in nets.values():
            net.activate(cand)
            logits = net.model(input_ids=IDS, attention_mask=MASK).logits
            (logits**2).sum().backward()
            results.append((logits.detach(), {n: p.grad.clone() for n, p in net.model.named_parameters()
                                              if p.grad is not None}))
            net.model.zero_grad(set_to_none=True)
        _assert_same(results[0], results[1], FP32)


@pytest.mark.parametrize("dtype,tol", [(torch.float32, FP32), (torch.bfloat16, BF16)])
def test_branch_up_op_equals_its_reference(dtype, tol):
    torch.manual_seed(0)
    segs = [(3, None), (4, nn.ReLU()), (2, nn.GELU())]
    y0, h = torch.randn(2, 5, 6, dtype=dtype), torch.randn(2, 5, 9, dtype=dtype)
    up, bias, scale = torch.randn(6, 9, dtype=dtype), torch.randn(6, dtype=dtype), torch.randn(6, dtype=dtype)
    leaves = [t.requires_grad_() for t in (y0, h, up, bias, scale)]
    ref = branch_up_reference(*leaves, segs)
    out = branch_up(*leaves, segs)
    torch.testing.assert_close(out, ref, **tol)
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(ref, leaves, g), torch.autograd.grad(out, leaves, g), strict=True):
        torch.testing.assert_close(a, b, **tol)
    wrong = branch_up(*leaves, [(3, None), (4, None), (2, nn.GELU())])  # negative control: an activation lost
    assert not torch.allclose(wrong.float(), ref.float(), atol=1e-2)


def test_kernels_option_resolves_or_says_why(monkeypatch):
    from autopeft.methods.kernels import select

    assert resolve_kernels("plain", "cpu") == "plain"
    assert resolve_kernels("auto", "cpu") == select.AUTO_CPU
    with pytest.raises(UserError, match="unknown kernels"):
        resolve_kernels("fast", "cpu")
    monkeypatch.setattr(select, "triton_available", lambda: False)
    with pytest.raises(UserError, match="needs the triton package"):
        resolve_kernels("triton", "cpu")
    monkeypatch.setattr(select, "triton_available", lambda: True)
    monkeypatch.delenv("TRITON_INTERPRET", raising=False)
    with pytest.raises(UserError, match="runs on CUDA"):
        resolve_kernels("triton", "cpu")
