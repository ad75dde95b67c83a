"""(IA)^3 (Liu et al. 2022): learned vectors scaling keys, values and the FFN hidden activations."""

from __future__ import annotations

from typing import Any

from autopeft.methods.anatomy.dims import BackboneDims
from autopeft.methods.spec import MethodGlobals, MethodSpec


class IA3Spec(MethodSpec):
    name = "ia3"
    title = "(IA)3"
    slots = ("k", "v", "ffn")
    flag = True
    default_lr = 3e-2
    lr_source = "measured: experiments/train_speed/lr_sweep_gpu.csv (tweets, 3 seeds, best at 300 steps)"
    attach_rank = 30  # after LoRA: a linear with both computes l * (W + dW) x
    label = "(IA)³"
    colour = "#8C6D31"
    peft_type = "IA3"

    def folds(self, glob: dict[str, Any]) -> bool:
        return True

    def adapters_blockers(self, candidate: Any, dims: BackboneDims) -> list[str]:
        return ["(IA)3 (not mapped: adapters' IA3 scales the FFN before its activation)"]

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: MethodGlobals) -> int:
        sizes = {"k": dims.kv_dim, "v": dims.kv_dim, "ffn": dims.ffn}
        return sum(sizes[s] for s, on in options.items() if on)
