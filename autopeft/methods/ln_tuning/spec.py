"""LN tuning (Zhao et al. 2024, "Tuning LayerNorm in Attention"; peft's `LNTuningConfig`): train
the gain and bias of each LayerNorm in a chosen layer, as deltas that start at zero."""

from __future__ import annotations

from typing import Any

from autopeft.methods.anatomy.dims import BackboneDims
from autopeft.methods.spec import MethodGlobals, MethodSpec


class LNTuningSpec(MethodSpec):
    name = "ln_tuning"
    title = "LN tuning"
    slots = ("ln",)
    flag = True
    default_lr = 3e-3
    lr_source = "not swept: BitFit's measured rate (both train per-channel vectors of a frozen layer)"
    attach_rank = 15  # a norm's output, before anything that reads it
    label = "LN tuning"
    colour = "#000000"
    peft_type = "LN_TUNING"

    def slot_available(self, slot: str, dims: BackboneDims) -> bool:
        # LayerNorm families list their norms in the anatomy; RMSNorm families (no bias) do not yet
        return dims.n_layer_norm_biases > 0

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: MethodGlobals) -> int:
        return 2 * dims.hidden * dims.n_layer_norm_biases if options.get("ln") else 0

    def folds(self, glob: dict[str, Any]) -> bool:
        return True  # the deltas add to the norm's own gain and bias
