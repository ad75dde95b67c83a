"""The plain PyTorch reference of the fused up-accumulate, op by op as the methods' hooks compute it.

out = (y0 + act(h) @ U^T + u) * l, where h's columns are segments (one per branch), each with its
own activation (identity for LoRA, the adapter's for adapters)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

Segment = tuple[int, Callable[[torch.Tensor], torch.Tensor] | None]  # (width, activation or None)


def activate(h: torch.Tensor, segments: Sequence[Segment]) -> torch.Tensor:
    """Each segment of h's last dimension through its own activation (None: identity)."""
    if all(act is None for _, act in segments):
        return h
    parts, start = [], 0
    for width, act in segments:
        part = h[..., start:start + width]
        parts.append(part if act is None else act(part))
        start += width
    return torch.cat(parts, dim=-1)


def branch_up_reference(y0: torch.Tensor, h: torch.Tensor, up: torch.Tensor, bias: torch.Tensor | None,
                        scale: torch.Tensor | None, segments: Sequence[Segment]) -> torch.Tensor:
    """(y0 + act(h) U^T + u) * l with plain autograd: one up-projection per segment, added in turn."""
    out, start = y0, 0
    for width, act in segments:
        part = h[..., start:start + width]
        z = part if act is None else act(part)
        out = out + F.linear(z, up[:, start:start + width])
        start += width
    if bias is not None:
        out = out + bias
    return out * scale if scale is not None else out
