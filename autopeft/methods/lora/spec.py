"""LoRA (Hu et al. 2022): h' = W0 x + (alpha/r) B A x on any of q, k, v, o, FFN in/out."""

from __future__ import annotations

from pydantic import Field

from autopeft.methods.anatomy.dims import BackboneDims
from autopeft.methods.spec import MethodGlobals, MethodSpec


class LoRAGlobals(MethodGlobals):
    """alpha/r is kept constant across ranks (written as alpha_pattern on a peft export)."""

    alpha_ratio: float = Field(default=1.0, gt=0, description="alpha / r, the scaling of B A")
    dropout: float = Field(default=0.0, ge=0, lt=1)
    gate: bool = Field(default=False, description="UniPELT's learned gate per LoRA module")


class LoRASpec(MethodSpec):
    name = "lora"
    title = "LoRA"
    slots = ("q", "k", "v", "o", "ffn_in", "ffn_out")
    default_lr = 3e-3
    lr_source = "measured: experiments/train_speed/lr_sweep_gpu.csv (tweets, 3 seeds, best at 300 steps)"
    Globals = LoRAGlobals

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: LoRAGlobals) -> int:
        total = 0
        for slot, rank in options.items():
            d_in, d_out = dims.in_out(slot)
            per_module = rank * (d_in + d_out) + ((d_in + 1) if glob.gate else 0)
            total += dims.copies(slot) * per_module
        return total
