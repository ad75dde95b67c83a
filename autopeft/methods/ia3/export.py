"""How (IA)3 exports: a peft `IA3Config` (k/v outputs scaled, the FFN output projection's input
scaled as a feedforward module)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from autopeft.methods.common import modules_with
from autopeft.methods.ia3.module import scale_of


def peft_config(hf: Any, ref: nn.Module, peft: Any, common: dict[str, Any]) -> Any:
    outputs = sorted(modules_with(ref, "autopeft_ia3"))
    ffn = sorted(modules_with(ref, "autopeft_ia3_ffn"))
    return hf.IA3Config(target_modules=outputs + ffn, feedforward_modules=ffn, **common)


@torch.no_grad()
def peft_copy(inner: nn.Module, ref: nn.Module, peft: Any) -> None:
    # peft's IA3Layer keeps each adapter's vector in the ParameterDict `ia3_l`
    for name, owner in modules_with(ref, "autopeft_ia3").items():
        inner.get_parameter(f"{name}.ia3_l.default").copy_(scale_of(owner, "autopeft_ia3").l.view(-1, 1))
    for name, owner in modules_with(ref, "autopeft_ia3_ffn").items():
        inner.get_parameter(f"{name}.ia3_l.default").copy_(scale_of(owner, "autopeft_ia3_ffn").l.view(1, -1))


def peft_check(inner: nn.Module, ref: nn.Module) -> list[str]:
    """The (IA)3 layers peft built are exactly ours, feedforward where ours scale an input."""
    from peft.tuners.ia3 import IA3Layer

    ia3 = {n: m for n, m in inner.named_modules() if isinstance(m, IA3Layer)}
    want_ff = {n: True for n in modules_with(ref, "autopeft_ia3_ffn")} | {
        n: False for n in modules_with(ref, "autopeft_ia3")}
    if {n: m.is_feedforward for n, m in ia3.items()} != want_ff:
        return ["(IA)3 modules or their feedforward flags differ from the candidate"]
    return []
