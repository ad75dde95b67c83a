"""LoRA (Hu et al. 2022): h' = W0 x + (alpha/r) B A x on any of q, k, v, o, FFN in/out."""

from __future__ import annotations

from typing import Any

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
    attach_rank = 20
    label = "LoRA"
    colour = "#0072B2"
    peft_type = "LORA"
    adapters = True

    def folds(self, glob: dict[str, Any]) -> bool:
        return not glob.get("gate")  # a gate depends on the input: not one change of a weight

    def peft_blockers(self, candidate: Any) -> list[str]:
        if candidate.globals.get("lora", {}).get("gate"):
            return ["LoRA gates (UniPELT's learned gate has no peft equivalent)"]
        return []

    def adapters_blockers(self, candidate: Any, dims: BackboneDims) -> list[str]:
        reasons = []
        if candidate.globals.get("lora", {}).get("gate"):
            reasons.append("lora gates (UniPELT's gate is not adapters' use_gating)")
        ranks = {r for layer in candidate.layers for r in layer.get("lora", {}).values()}
        slots = {frozenset(layer["lora"]) for layer in candidate.layers if "lora" in layer}
        if len(ranks) > 1:
            reasons.append(f"LoRA ranks {sorted(ranks)} (LoRAConfig has one r)")
        if len(slots) > 1:
            reasons.append("LoRA on different projections per layer (LoRAConfig has one attn_matrices)")
        if {s for layer in candidate.layers for s in layer.get("lora", {})} & {"o"}:
            reasons.append("LoRA on the attention output projection (not a LoRAConfig target)")
        return reasons

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: LoRAGlobals) -> int:
        total = 0
        for slot, rank in options.items():
            d_in, d_out = dims.in_out(slot)
            per_module = rank * (d_in + d_out) + ((d_in + 1) if glob.gate else 0)
            total += dims.copies(slot) * per_module
        return total
