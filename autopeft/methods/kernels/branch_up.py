"""The up-accumulate of every branch on one linear: out = (y0 + act(h) U^T + u) * l, in one matmul.

Why a custom autograd Function rather than torch ops: plain autograd keeps act(h) as well as h for
each adapter (the up-projection's weight gradient reads act(h), the activation's backward reads h
or its output), and allocates one full-size temporary per branch (each delta, each sum). This
Function writes the branches into the base output with one `addmm`, keeps only h (n x R), U, l and,
where l trains, the pre-scale output (its gradient needs it), and recomputes act(h) in backward
(R is a few columns, so that is cheap). The down-projections stay ordinary `F.linear` calls
(`shared.py`): torch does those well.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch

from autopeft.methods.kernels.reference import Segment, activate


def _act_backward(h: torch.Tensor, grad_z: torch.Tensor, segments: Sequence[Segment]) -> torch.Tensor:
    """d act(h) / dh applied to grad_z, segment by segment (identity segments pass through)."""
    if all(act is None for _, act in segments):
        return grad_z
    parts, start = [], 0
    for width, act in segments:
        g = grad_z[..., start:start + width]
        if act is not None:
            with torch.enable_grad():
                part = h[..., start:start + width].detach().requires_grad_(True)
                (g,) = torch.autograd.grad(act(part), part, g)
        parts.append(g)
        start += width
    return torch.cat(parts, dim=-1)


def _rows(t: torch.Tensor) -> torch.Tensor:
    return t.reshape(-1, t.shape[-1])


class BranchUp(torch.autograd.Function):
    """(y0 + act(h) U^T + u) * l; `triton` runs the forward's matmul as the Triton kernel."""

    @staticmethod
    def forward(ctx: Any, y0: torch.Tensor, h: torch.Tensor, up: torch.Tensor, bias: torch.Tensor | None,
                scale: torch.Tensor | None, segments: Sequence[Segment], triton: bool) -> torch.Tensor:
        with torch.autocast(y0.device.type, enabled=False):  # operands are cast by `branch_up`
            pre = _forward(y0, h, up, bias, segments, triton)
        out = pre * scale if scale is not None else pre
        keep_pre = scale is not None and ctx.needs_input_grad[4]
        ctx.save_for_backward(h, up, scale, pre if keep_pre else None)
        ctx.segments, ctx.has_bias = segments, bias is not None
        return out

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        with torch.autocast(grad.device.type, enabled=False):
            return _backward(ctx, grad)


def _forward(y0: torch.Tensor, h: torch.Tensor, up: torch.Tensor, bias: torch.Tensor | None,
         segments: Sequence[Segment], triton: bool) -> torch.Tensor:
    z = activate(h, segments)
    if triton:
        from autopeft.methods.kernels.triton_up import up_accumulate

        pre = up_accumulate(_rows(y0), _rows(z), up, bias)
    else:
        base = _rows(y0) if bias is None else _rows(y0) + bias
        pre = torch.addmm(base, _rows(z), up.t())
    return pre.view(y0.shape)


def _backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
    h, up, scale, pre = ctx.saved_tensors
    need = ctx.needs_input_grad
    g = grad * scale if scale is not None else grad
    g2 = _rows(g)
    grad_y0 = g if need[0] else None
    grad_h = grad_up = grad_bias = grad_scale = None
    if need[1]:
        grad_h = _act_backward(h, (g2 @ up).view(h.shape), ctx.segments)
    if need[2]:
        grad_up = g2.t() @ _rows(activate(h, ctx.segments))
    if ctx.has_bias and need[3]:
        grad_bias = g2.sum(0)
    if scale is not None and need[4]:
        grad_scale = _rows(grad * pre).sum(0)
    return grad_y0, grad_h, grad_up, grad_bias, grad_scale, None, None


def branch_up(y0: torch.Tensor, h: torch.Tensor, up: torch.Tensor, bias: torch.Tensor | None = None,
              scale: torch.Tensor | None = None, segments: Sequence[Segment] = (),
              triton: bool = False) -> torch.Tensor:
    """The fused up-accumulate, every operand cast to y0's dtype (under autocast the base output is
    bf16 while the weights are fp32; the plain hooks cast their deltas the same way)."""
    dt = y0.dtype
    segments = tuple(segments) or ((h.shape[-1], None),)
    return BranchUp.apply(y0, h.to(dt), up.to(dt), None if bias is None else bias.to(dt),
                          None if scale is None else scale.to(dt), segments, triton)
