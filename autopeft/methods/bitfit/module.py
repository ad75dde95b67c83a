"""BitFit: the chosen bias terms of a layer train; everything else stays frozen."""

from __future__ import annotations

from autopeft.methods.spec import MethodGlobals


def attach(ctx, options: dict[str, int], glob: MethodGlobals) -> None:
    """Mark the chosen biases trainable (restored to their values on detach)."""
    for slot in options:
        if slot == "ln":
            modules = [ctx.layer.get_submodule(p) for p in ctx.anatomy.layer_norms]
        else:
            modules = ctx.projections(slot)
        for module in modules:
            if getattr(module, "bias", None) is None:
                raise ValueError(f"bitfit.{slot}: {type(module).__name__} in layer {ctx.index} has no bias")
            ctx.peft.train_existing(module.bias)
