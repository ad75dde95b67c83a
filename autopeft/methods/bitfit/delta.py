"""BitFit inside a supernet: a learned delta added to a module's output, which equals training
its bias (b + δ), but can be switched off per layer without touching the backbone's tensors."""

from __future__ import annotations

import torch
from torch import nn

from autopeft.methods.common import Elastic


class BiasDelta(Elastic, nn.Module):
    """δ, added to the output of a biased linear or layer norm; zero at init (identity)."""

    def __init__(self, size: int):
        super().__init__()
        self.delta = nn.Parameter(torch.zeros(size))

    def exported_tensors(self, prefix: str, model: nn.Module) -> dict[str, torch.Tensor]:
        """BitFit exports the trained bias itself: the owner's bias plus δ."""
        owner = prefix.rsplit(".", 1)[0]
        return {f"{owner}.bias": model.get_parameter(f"{owner}.bias") + self.delta}


def _add_delta(attr: str):
    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
        delta: BiasDelta = getattr(module, attr)
        return output if delta.is_off() else output + delta.delta.to(output.dtype)

    return hook


def attach_bias_delta(peft, module: nn.Module, tag: str) -> BiasDelta:
    """Hang a BiasDelta off `module` (named `autopeft_bitfit_<tag>`) and hook it in."""
    bias = getattr(module, "bias", None)
    if not isinstance(bias, torch.Tensor):
        raise ValueError(f"bitfit: {type(module).__name__} has no bias to add a delta to")
    delta = BiasDelta(bias.shape[0])
    peft.add_module("bitfit", module, f"bitfit_{tag}", delta)
    # prepend: the delta is part of the bias, so it must come before LoRA, (IA)3 or adapters
    peft.add_hook(module.register_forward_hook(_add_delta(f"autopeft_bitfit_{tag}"), prepend=True))
    return delta
