"""Serial adapters: a forward hook on the attention / FFN output projection applies
y + U f(D y) before the block's residual (Houlsby's placement; Pfeiffer's is the FFN one)."""

from __future__ import annotations

import torch
from torch import nn

from autopeft.methods.common import Bottleneck, ElasticBottleneck, Gate, branch_hook
from autopeft.methods.serial_adapter.spec import SerialAdapterGlobals

_OUTPUT = {"attn": "o", "ffn": "ffn_out"}


class SerialAdapter(ElasticBottleneck, nn.Module):
    def __init__(self, hidden: int, width: int, glob: SerialAdapterGlobals):
        super().__init__()
        self.bottleneck = Bottleneck(hidden, width, glob.activation)
        self.residual = glob.residual
        self.gate = Gate(hidden) if glob.gate else None

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        delta = self.bottleneck(y, self.active)
        if self.gate is not None:
            delta = delta * self.gate(y)
        return y + delta if self.residual else delta


def _hook(attr: str):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        adapter = getattr(module, attr)
        return output if adapter.is_off() else adapter(output)

    return branch_hook("serial_adapter", hook)


def elastic_modules(ctx, slot: str) -> list[nn.Module]:
    """The supernet's switchable module of one slot."""
    return [ctx.projection(_OUTPUT[slot]).autopeft_serial_adapter]


def attach(ctx, options: dict[str, int], glob: SerialAdapterGlobals) -> None:
    """An adapter after the attention output projection and/or the FFN output projection."""
    for slot, width in options.items():
        owner = ctx.projection(_OUTPUT[slot])
        ctx.peft.add_module("serial_adapter", owner, "serial_adapter", SerialAdapter(ctx.dims.hidden, width, glob))
        ctx.peft.add_hook(owner.register_forward_hook(_hook("autopeft_serial_adapter")))
