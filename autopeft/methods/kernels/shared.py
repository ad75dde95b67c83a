"""One down-projection matmul for every branch that reads the same tensor.

What genuinely shares an input in a transformer block: q, k and v read the same hidden state, and
so does the attention parallel adapter (its pre-hook keeps q's input); the FFN's first
projection(s) and the FFN parallel adapter read the same one too. Their LoRA A's and adapter D's
are stacked into one weight, so x is read once and one matmul (and one in backward for x's
gradient) replaces one per branch. The stack is rebuilt each forward from the live weights, sliced
to each module's `active` size, so the supernet's sub-networks (and training) see current values.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F


def down_weights(module: Any) -> tuple[torch.Tensor, torch.Tensor | None]:
    """A branch's active down-projection (weight, bias): LoRA's A rows, an adapter's D rows."""
    k = getattr(module, "active", None)
    if hasattr(module, "A"):
        w = module.A.weight
        return (w if k is None else w[:k]), None
    down = module.bottleneck.down
    return (down.weight, down.bias) if k is None else (down.weight[:k], down.bias[:k])


class SharedDown:
    """The branches reading one tensor; `down(x, member)` gives that member's h = D x + d.

    The first member to ask for a new x computes every active member's h in one matmul; the
    others take their columns of it. The stored result is dropped once every active member has
    taken its part (or a new x arrives), so no activation outlives its forward pass."""

    def __init__(self, members: list[Any]):
        self.members = members
        self._x: torch.Tensor | None = None
        self._parts: dict[int, torch.Tensor] = {}

    def down(self, x: torch.Tensor, member: Any) -> torch.Tensor:
        if x is not self._x or id(member) not in self._parts:
            self._compute(x)
        part = self._parts.pop(id(member))
        if not self._parts:
            self._x = None
        return part

    def _compute(self, x: torch.Tensor) -> None:
        active = [m for m in self.members if not m.is_off() and not getattr(m, "merged", False)]
        pairs = [down_weights(m) for m in active]
        weight = torch.cat([w for w, _ in pairs]) if len(pairs) > 1 else pairs[0][0]
        biases = [b for _, b in pairs]
        bias = None
        if any(b is not None for b in biases):
            bias = torch.cat([b if b is not None else w.new_zeros(w.shape[0]) for w, b in pairs])
        h = F.linear(x, weight, bias)
        self._x, self._parts, start = x, {}, 0
        for m, (w, _) in zip(active, pairs, strict=True):
            self._parts[id(m)] = h[..., start:start + w.shape[0]]
            start += w.shape[0]
