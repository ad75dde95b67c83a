"""BitFit (Ben-Zaken 2022): train the chosen bias terms of a layer."""

from __future__ import annotations

from typing import Any

from autopeft.methods.anatomy.dims import PROJECTIONS, BackboneDims
from autopeft.methods.spec import MethodGlobals, MethodSpec


class BitFitSpec(MethodSpec):
    name = "bitfit"
    title = "BitFit"
    slots = ("q", "k", "v", "o", "ffn_in", "ffn_out", "ln")
    flag = True
    default_lr = 3e-3
    lr_source = "measured: experiments/train_speed/lr_sweep_gpu.csv (tweets, 3 seeds, best at 300 steps)"
    attach_rank = 10  # the bias is part of the linear: before anything that reads its output
    label = "BitFit"
    colour = "#CC79A7"

    def folds(self, glob: dict[str, Any]) -> bool:
        return True  # the trained biases are the backbone's own tensors

    def peft_blockers(self, candidate: Any) -> list[str]:
        """peft has no BitFit; beside LoRA it trains exactly the LoRA-targeted biases (bias='lora_only')."""
        if "lora" not in candidate.methods:
            return ["BitFit without LoRA (peft has no BitFit method)"]
        if not _bitfit_is_lora_only(candidate):
            return ["BitFit beyond the LoRA-targeted projections' biases (peft has only bias='lora_only')"]
        return []

    def adapters_blockers(self, candidate: Any, dims: BackboneDims) -> list[str]:
        return ["BitFit (no adapters method)"]

    def slot_available(self, slot: str, dims: BackboneDims) -> bool:
        if slot == "ln":
            return dims.n_layer_norm_biases > 0
        return slot in dims.biases

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: MethodGlobals) -> int:
        total = 0
        for slot, on in options.items():
            if not on:
                continue
            if slot == "ln":
                total += dims.n_layer_norm_biases * dims.hidden
            elif slot in PROJECTIONS:
                total += dims.copies(slot) * dims.in_out(slot)[1]
        return total


def _bitfit_is_lora_only(candidate: Any) -> bool:
    """Whether BitFit trains exactly the biases of the LoRA-targeted projections."""
    for layer in candidate.layers:
        bits = set(layer.get("bitfit", {}))
        if bits != set(layer.get("lora", {})):
            return False
    return True
