"""LN tuning: a forward hook on each LayerNorm of a chosen layer adds dγ·x̂ + dβ, which is
LN(x; γ + dγ, β + dβ) without touching the backbone's tensors (so `detach` is exact and a
supernet can switch it off per layer)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from autopeft.errors import UserError
from autopeft.methods.common import Elastic
from autopeft.methods.spec import MethodGlobals


class NormDelta(Elastic, nn.Module):
    """dγ and dβ of one LayerNorm, zero at init (identity)."""

    def __init__(self, size: int):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(size))
        self.bias = nn.Parameter(torch.zeros(size))


def delta_of(norm: nn.Module) -> NormDelta:
    """The NormDelta that `attach` hung off `norm`."""
    delta = norm.autopeft_ln_tuning
    if not isinstance(delta, NormDelta):
        raise TypeError(f"{type(norm).__name__}.autopeft_ln_tuning is a {type(delta).__name__}, not a NormDelta")
    return delta


def _hook(norm: nn.LayerNorm, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    delta = delta_of(norm)
    if delta.is_off():
        return output
    normed = F.layer_norm(inputs[0], norm.normalized_shape, None, None, norm.eps)
    return output + (normed * delta.weight + delta.bias).to(output.dtype)


def _norms(ctx) -> list[nn.LayerNorm]:
    return [_layer_norm(ctx, p) for p in ctx.anatomy.layer_norms]


def _layer_norm(ctx, path: str) -> nn.LayerNorm:
    # the hook recomputes the norm with F.layer_norm, which is only exact for a LayerNorm
    norm = ctx.layer.get_submodule(path)
    if not isinstance(norm, nn.LayerNorm):
        raise UserError(f"ln_tuning: {path!r} in layer {ctx.index} is a {type(norm).__name__}, not an nn.LayerNorm")
    return norm


def attach(ctx, options: dict[str, int], glob: MethodGlobals) -> None:
    """A gain and bias delta on every LayerNorm of the layer."""
    for norm in _norms(ctx):
        ctx.peft.add_module("ln_tuning", norm, "ln_tuning", NormDelta(norm.normalized_shape[0]))
        ctx.peft.add_hook(norm.register_forward_hook(_hook))


def elastic_modules(ctx, slot: str) -> list[nn.Module]:
    """The supernet's switchable modules of the layer (on/off only)."""
    return [delta_of(norm) for norm in _norms(ctx)]


def fold_into_state(state: dict[str, torch.Tensor], name: str, module: nn.Module) -> None:
    """Merged export: γ + dγ and β + dβ."""
    if hasattr(module, "autopeft_ln_tuning"):
        delta = delta_of(module)
        state[f"{name}.weight"] += delta.weight.to(state[f"{name}.weight"].dtype)
        state[f"{name}.bias"] += delta.bias.to(state[f"{name}.bias"].dtype)
