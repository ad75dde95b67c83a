"""(IA)^3 (Liu et al. 2022): learned vectors scaling keys, values and the FFN hidden activations."""

from __future__ import annotations

from autopeft.methods.anatomy.dims import BackboneDims
from autopeft.methods.spec import MethodGlobals, MethodSpec


class IA3Spec(MethodSpec):
    name = "ia3"
    title = "(IA)3"
    slots = ("k", "v", "ffn")
    flag = True
    default_lr = 3e-2
    lr_source = "measured: experiments/train_speed/lr_sweep_gpu.csv (tweets, 3 seeds, best at 300 steps)"

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: MethodGlobals) -> int:
        sizes = {"k": dims.kv_dim, "v": dims.kv_dim, "ffn": dims.ffn}
        return sum(sizes[s] for s, on in options.items() if on)
