"""Serial bottleneck adapter (Houlsby 2019; Pfeiffer = after the FFN only): x + U f(D x)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from autopeft.methods.anatomy.dims import BackboneDims
from autopeft.methods.spec import MethodGlobals, MethodSpec

Activation = Literal["relu", "gelu", "tanh", "silu"]


class SerialAdapterGlobals(MethodGlobals):
    activation: Activation = "relu"
    residual: bool = Field(default=True, description="add the input back (identity at init)")
    gate: bool = Field(default=False, description="UniPELT's learned gate per adapter")


class SerialAdapterSpec(MethodSpec):
    name = "serial_adapter"
    title = "serial adapter"
    slots = ("attn", "ffn")  # after the attention output projection / after the FFN output
    default_lr = 3e-3
    lr_source = "measured: experiments/train_speed/lr_sweep_gpu.csv (tweets, 3 seeds, best at 300 steps)"
    Globals = SerialAdapterGlobals
    attach_rank = 40
    label = "serial adapter"
    abbreviation = "SA"
    colour = "#E69F00"
    adapters = True

    def peft_blockers(self, candidate: Any) -> list[str]:
        return ["serial adapters (bottleneck adapters do not exist in peft)"]

    def adapters_blockers(self, candidate: Any, dims: BackboneDims) -> list[str]:
        reasons = []
        if candidate.globals.get(self.name, {}).get("gate"):
            reasons.append(f"{self.name} gates (UniPELT's gate is not adapters' use_gating)")
        return reasons + widths_blockers(self.name, candidate, dims.hidden)

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: SerialAdapterGlobals) -> int:
        h = dims.hidden
        gate = (h + 1) if glob.gate else 0
        return sum(2 * h * r + r + h + gate for r in options.values())


def widths_blockers(method: str, candidate: Any, hidden: int) -> list[str]:
    """adapters sizes a bottleneck by reduction_factor = hidden / width."""
    widths = {w for layer in candidate.layers for w in layer.get(method, {}).values()}
    if any(hidden % w for w in widths):
        return [f"{method} widths {sorted(widths)} that do not divide hidden {hidden} (reduction_factor)"]
    return []
