"""The Triton up-accumulate equals the reference: under Triton's interpreter on the CPU in float32
and float16 (the interpreter's bfloat16 is wrong: shared/DESIGN.md), and on CUDA, bfloat16 too,
where a GPU is there."""

import os

import pytest
import torch
from torch import nn

from autopeft.methods.kernels.select import triton_available

pytestmark = pytest.mark.skipif(not triton_available(),
                                reason="triton is not installed (pip install 'autopeft[triton]')")
CUDA = torch.cuda.is_available()
TOL = {torch.float32: {"atol": 1e-5, "rtol": 1e-5}, torch.float16: {"atol": 1e-2, "rtol": 1e-2},
       torch.bfloat16: {"atol": 3e-2, "rtol": 3e-2}}


@pytest.fixture()
def device():
    """CUDA where there is one; else the CPU under Triton's interpreter (tests/conftest.py sets
    TRITON_INTERPRET for the session, before triton is first imported)."""
    if CUDA:
        return "cuda"
    if os.environ.get("TRITON_INTERPRET") != "1":
        pytest.skip("no CUDA and TRITON_INTERPRET is not set: the kernel cannot run here")
    return "cpu"


DTYPES = [torch.float32, torch.float16] + ([torch.bfloat16] if CUDA else [])


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
@pytest.mark.parametrize("shape", [(70, 40, 5), (3, 130, 17), (129, 8, 1)])
def test_triton_branch_up_equals_the_reference(device, dtype, shape):
    from autopeft.methods.kernels.branch_up import branch_up
    from autopeft.methods.kernels.reference import branch_up_reference

    m, n, k = shape
    torch.manual_seed(0)
    segs = [(k, None)] if k < 3 else [(k - 2, None), (2, nn.ReLU())]
    leaves = [torch.randn(*s, dtype=dtype, device=device).requires_grad_()
              for s in ((m, n), (m, k), (n, k), (n,), (n,))]
    ref = branch_up_reference(*leaves, segs)
    out = branch_up(*leaves, segs, triton=True)
    torch.testing.assert_close(out, ref, **TOL[dtype])
    g = torch.randn_like(out)
    for a, b in zip(torch.autograd.grad(ref, leaves, g), torch.autograd.grad(out, leaves, g), strict=True):
        torch.testing.assert_close(a, b, **TOL[dtype])
    bad = branch_up(leaves[0], leaves[1], leaves[2] * 1.01, leaves[3], leaves[4], segs, triton=True)  # control
    assert not torch.allclose(bad.float(), ref.float(), **TOL[dtype])


def test_triton_kernels_through_a_model(device):
    """`--kernels triton` on a tiny BERT: the same logits as the plain hooks."""
    from transformers import BertForSequenceClassification

    from autopeft.methods.attach import apply
    from autopeft.methods.candidate import Candidate
    from autopeft.methods.kernels.fuse import fuse
    from tests.helpers.models import tiny_bert_config

    torch.manual_seed(0)
    model = BertForSequenceClassification(tiny_bert_config()).to(device)
    cand = Candidate([{"lora": {"q": 4, "o": 2}, "parallel_adapter": {"attn": 8}, "ia3": {"v": 1}}] * 3, {})
    ids = torch.tensor([[2, 5, 9, 14, 3, 7, 1]], device=device)
    outs = []
    for kernels in ("plain", "triton"):
        torch.manual_seed(1)
        peft = apply(model, cand)
        with torch.no_grad():
            for params in peft.groups.values():
                for _, t in params:
                    t.add_(torch.randn_like(t) * 0.2)
        assert fuse(peft, kernels) == (0 if kernels == "plain" else 9)
        outs.append(model(input_ids=ids).logits.detach())
        peft.detach()
    torch.testing.assert_close(outs[0], outs[1], **TOL[torch.float32])
