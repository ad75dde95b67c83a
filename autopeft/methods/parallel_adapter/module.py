"""Parallel adapters (He et al. 2022): block(x) + s U f(D x), with x the block's input.

A pre-hook on the block's first projection keeps x; a hook on its output projection adds the
adapter's output."""

from __future__ import annotations

import torch
from torch import nn

from autopeft.methods.common import Bottleneck, ElasticBottleneck, branch_hook
from autopeft.methods.parallel_adapter.spec import ParallelAdapterGlobals

_ENDS = {"attn": ("q", "o"), "ffn": ("ffn_in", "ffn_out")}


class ParallelAdapter(ElasticBottleneck, nn.Module):
    def __init__(self, hidden: int, width: int, glob: ParallelAdapterGlobals):
        super().__init__()
        self.bottleneck = Bottleneck(hidden, width, glob.activation)
        self.scale = glob.scale
        self._x: torch.Tensor | None = None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.scale * self.bottleneck(x, self.active)


def elastic_modules(ctx, slot: str) -> list[nn.Module]:
    """The supernet's switchable module of one slot (it hangs off the block's output projection)."""
    return [ctx.projection(_ENDS[slot][1]).autopeft_parallel_adapter]


def attach(ctx, options: dict[str, int], glob: ParallelAdapterGlobals) -> None:
    """An adapter beside the attention block and/or beside the FFN."""
    for slot, width in options.items():
        first, last = (ctx.projection(s) for s in _ENDS[slot])
        adapter = ParallelAdapter(ctx.dims.hidden, width, glob)
        ctx.peft.add_module("parallel_adapter", last, "parallel_adapter", adapter)

        def keep_input(module: nn.Module, inputs: tuple, adapter: ParallelAdapter = adapter) -> None:
            adapter._x = inputs[0]

        def add_output(module: nn.Module, inputs: tuple, output: torch.Tensor, adapter=adapter) -> torch.Tensor:
            x, adapter._x = adapter._x, None
            if adapter.is_off():
                return output
            return output + adapter(x).to(output.dtype)

        ctx.peft.add_hook(first.register_forward_pre_hook(keep_input))
        ctx.peft.add_hook(last.register_forward_hook(branch_hook("parallel_adapter", add_output)))
