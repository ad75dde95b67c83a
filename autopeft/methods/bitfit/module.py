"""BitFit: the chosen bias terms of a layer train; everything else stays frozen."""

from __future__ import annotations

import torch
from torch import nn

from autopeft.methods.bitfit.delta import attach_bias_delta
from autopeft.methods.spec import MethodGlobals


def _owners(ctx, slot: str) -> list[nn.Module]:
    if slot == "ln":
        return [ctx.layer.get_submodule(p) for p in ctx.anatomy.layer_norms]
    return ctx.projections(slot)


def attach(ctx, options: dict[str, int], glob: MethodGlobals) -> None:
    """Mark the chosen biases trainable (restored to their values on detach)."""
    for slot in options:
        for module in _owners(ctx, slot):
            if getattr(module, "bias", None) is None:
                raise ValueError(f"bitfit.{slot}: {type(module).__name__} in layer {ctx.index} has no bias")
            ctx.peft.train_existing(module.bias)


def attach_elastic(ctx, slot: str) -> list[nn.Module]:
    """In a supernet, a switchable delta per bias instead of training the bias in place."""
    return [attach_bias_delta(ctx.peft, owner, f"{slot}{j}") for j, owner in enumerate(_owners(ctx, slot))]


def fold_into_state(state: dict[str, torch.Tensor], name: str, module: nn.Module) -> None:
    """Merged export: nothing to do, the trained biases are the backbone's own tensors."""
