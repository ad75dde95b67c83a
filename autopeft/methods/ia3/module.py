"""(IA)^3: learned vectors (initialised to ones) scale keys, values and the FFN hidden activations."""

from __future__ import annotations

import torch
from torch import nn

from autopeft.methods.common import Elastic, branch_hook
from autopeft.methods.spec import MethodGlobals


class Scale(Elastic, nn.Module):
    """A learned vector l, one per channel, starting at 1 (identity)."""

    def __init__(self, size: int):
        super().__init__()
        self.l = nn.Parameter(torch.ones(size))


def scale_of(module: nn.Module, attr: str) -> Scale:
    """The (IA)^3 vector that `attach` hung off `module` (`autopeft_ia3` or `autopeft_ia3_ffn`)."""
    scale = getattr(module, attr)
    if not isinstance(scale, Scale):
        raise TypeError(f"{type(module).__name__}.{attr} is a {type(scale).__name__}, not an (IA)^3 Scale")
    return scale


def _scale_output(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    scale = scale_of(module, "autopeft_ia3")
    return output if scale.is_off() else output * scale.l.to(output.dtype)


branch_hook("ia3", _scale_output)


def _scale_input(module: nn.Module, inputs: tuple) -> tuple | None:
    scale = scale_of(module, "autopeft_ia3_ffn")
    if scale.is_off():
        return None
    return (inputs[0] * scale.l.to(inputs[0].dtype),) + tuple(inputs[1:])


def attach(ctx, options: dict[str, int], glob: MethodGlobals) -> None:
    """Scale k and v outputs, and the FFN hidden (the input of the FFN output projection)."""
    for slot in options:
        if slot in ("k", "v"):
            linear = ctx.projection(slot)
            ctx.peft.add_module("ia3", linear, "ia3", Scale(linear.out_features))
            ctx.peft.add_hook(linear.register_forward_hook(_scale_output))
        else:
            linear = ctx.projection("ffn_out")
            ctx.peft.add_module("ia3", linear, "ia3_ffn", Scale(linear.in_features))
            ctx.peft.add_hook(linear.register_forward_pre_hook(_scale_input))


def fold_into_state(state: dict[str, torch.Tensor], name: str, module: nn.Module) -> None:
    """Merged export: l * W (rows for k/v, with the bias; columns for the FFN output)."""
    weight = f"{name}.weight"
    if hasattr(module, "autopeft_ia3"):
        scale = scale_of(module, "autopeft_ia3").l
        state[weight] *= scale[:, None]
        if module.bias is not None:
            state[f"{name}.bias"] *= scale
    if hasattr(module, "autopeft_ia3_ffn"):
        state[weight] *= scale_of(module, "autopeft_ia3_ffn").l[None, :]


def elastic_modules(ctx, slot: str) -> list[nn.Module]:
    """The supernet's switchable module of one slot (on/off only)."""
    if slot in ("k", "v"):
        return [ctx.projection(slot).autopeft_ia3]
    return [ctx.projection("ffn_out").autopeft_ia3_ffn]


def merge(linear: nn.Linear) -> None:
    """Fold a linear's (IA)^3 vector into its weight (rows for k/v, columns for the FFN)."""
    with torch.no_grad():
        if hasattr(linear, "autopeft_ia3"):
            scale = scale_of(linear, "autopeft_ia3").l
            linear.weight.mul_(scale[:, None])
            if linear.bias is not None:
                linear.bias.mul_(scale)
            scale.fill_(1.0)
        if hasattr(linear, "autopeft_ia3_ffn"):
            scale = scale_of(linear, "autopeft_ia3_ffn").l
            linear.weight.mul_(scale[None, :])
            scale.fill_(1.0)
