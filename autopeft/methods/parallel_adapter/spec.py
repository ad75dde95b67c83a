"""Parallel adapter (He et al. 2022): block(x) + s U f(D x), beside attention and/or the FFN."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from autopeft.methods.anatomy.dims import BackboneDims
from autopeft.methods.serial_adapter.spec import Activation, widths_blockers
from autopeft.methods.spec import MethodGlobals, MethodSpec


class ParallelAdapterGlobals(MethodGlobals):
    activation: Activation = "relu"
    scale: float = Field(default=4.0, gt=0, description="s; He et al. use 4 on the FFN")


class ParallelAdapterSpec(MethodSpec):
    name = "parallel_adapter"
    title = "parallel adapter"
    slots = ("attn", "ffn")
    default_lr = 3e-3
    lr_source = "measured: experiments/train_speed/lr_sweep_gpu.csv (tweets, 3 seeds, best at 300 steps)"
    Globals = ParallelAdapterGlobals
    attach_rank = 50
    label = "parallel adapter"
    abbreviation = "PA"
    colour = "#009E73"
    adapters = True

    def peft_blockers(self, candidate: Any) -> list[str]:
        return ["parallel adapters (bottleneck adapters do not exist in peft)"]

    def adapters_blockers(self, candidate: Any, dims: BackboneDims) -> list[str]:
        return widths_blockers(self.name, candidate, dims.hidden)

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: ParallelAdapterGlobals) -> int:
        h = dims.hidden
        return sum(2 * h * r + r + h for r in options.values())
