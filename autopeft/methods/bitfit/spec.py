"""BitFit (Ben-Zaken 2022): train the chosen bias terms of a layer."""

from __future__ import annotations

from autopeft.methods.anatomy.dims import PROJECTIONS, BackboneDims
from autopeft.methods.spec import MethodGlobals, MethodSpec


class BitFitSpec(MethodSpec):
    name = "bitfit"
    title = "BitFit"
    slots = ("q", "k", "v", "o", "ffn_in", "ffn_out", "ln")
    flag = True
    default_lr = 3e-3
    lr_source = "measured: experiments/train_speed/lr_sweep_gpu.csv (tweets, 3 seeds, best at 300 steps)"

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
