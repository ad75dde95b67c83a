"""How LN tuning exports: peft's `LNTuningConfig` on the tuned norms, whose trained copies
(`ln_tuning_layers`) hold γ + dγ and β + dβ."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from autopeft.methods.common import modules_with
from autopeft.methods.ln_tuning.module import delta_of


def peft_config(hf: Any, ref: nn.Module, peft: Any, common: dict[str, Any]) -> Any:
    return hf.LNTuningConfig(target_modules=sorted(modules_with(ref, "autopeft_ln_tuning")), **common)


@torch.no_grad()
def peft_copy(inner: nn.Module, ref: nn.Module, peft: Any) -> None:
    for name, norm in modules_with(ref, "autopeft_ln_tuning").items():
        delta = delta_of(norm)
        # peft's LNTuningLayer trains a copy of the norm per adapter, in the ModuleDict `ln_tuning_layers`
        copy = f"{name}.ln_tuning_layers.default"
        inner.get_parameter(f"{copy}.weight").copy_(ref.get_parameter(f"{name}.weight") + delta.weight)
        inner.get_parameter(f"{copy}.bias").copy_(ref.get_parameter(f"{name}.bias") + delta.bias)


def peft_check(inner: nn.Module, ref: nn.Module) -> list[str]:
    """peft tuned exactly our norms."""
    from peft.tuners.ln_tuning.layer import LNTuningLayer

    built = {n for n, m in inner.named_modules() if isinstance(m, LNTuningLayer)}
    wanted = set(modules_with(ref, "autopeft_ln_tuning"))
    if built != wanted:
        return [f"LN tuning on {sorted(built ^ wanted)[:3]} differs from the candidate"]
    return []
