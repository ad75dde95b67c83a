"""LoRA modules and how they attach: a forward hook adds (alpha/r) B A x to a linear's output."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from autopeft.methods.common import Elastic, Gate, branch_hook
from autopeft.methods.lora.spec import LoRAGlobals


class LoRA(Elastic, nn.Module):
    """The low-rank update of one linear: A (kaiming-uniform, as peft) and B (zeros)."""

    SLICED_ROWS = ("A.weight",)
    SLICED_COLUMNS = ("B.weight",)

    def __init__(self, d_in: int, d_out: int, rank: int, scaling: float, dropout: float, gate: bool):
        super().__init__()
        self.rank, self.scaling = rank, scaling
        self.A = nn.Linear(d_in, rank, bias=False)
        self.B = nn.Linear(rank, d_out, bias=False)
        nn.init.kaiming_uniform_(self.A.weight, a=math.sqrt(5))
        nn.init.zeros_(self.B.weight)
        self.dropout = nn.Dropout(dropout) if dropout else nn.Identity()
        self.gate = Gate(d_in) if gate else None
        self.merged = False

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        r = self.active
        if r is None or r == self.rank:
            delta = self.B(self.A(self.dropout(x))) * self.scaling
        else:  # a sub-rank uses the leading rows of A and columns of B; alpha/r stays constant
            delta = F.linear(F.linear(self.dropout(x), self.A.weight[:r]), self.B.weight[:, :r]) * self.scaling
        return delta * self.gate(x) if self.gate is not None else delta

    def full_size(self) -> int | None:
        return self.rank

    def delta_weight(self) -> torch.Tensor:
        """The dense update (alpha/r) B A, shaped like the base weight."""
        return (self.B.weight @ self.A.weight) * self.scaling


def lora_of(module: nn.Module) -> LoRA:
    """The LoRA that `attach` hung off `module`."""
    lora = module.autopeft_lora
    if not isinstance(lora, LoRA):
        raise TypeError(f"{type(module).__name__}.autopeft_lora is a {type(lora).__name__}, not a LoRA")
    return lora


def merge(linear: nn.Linear) -> None:
    """Fold a linear's LoRA into its weight (not possible with a gate: it depends on the input)."""
    lora = lora_of(linear)
    if lora.gate is not None:
        raise ValueError("a gated LoRA cannot be merged into the weight")
    if not lora.merged:
        with torch.no_grad():
            linear.weight += lora.delta_weight().to(linear.weight.dtype)
        lora.merged = True


def unmerge(linear: nn.Linear) -> None:
    """Undo `merge`."""
    lora = lora_of(linear)
    if lora.merged:
        with torch.no_grad():
            linear.weight -= lora.delta_weight().to(linear.weight.dtype)
        lora.merged = False


def _hook(linear: nn.Linear, inputs: tuple, output: torch.Tensor) -> torch.Tensor:
    lora = lora_of(linear)
    if lora.merged or lora.is_off():
        return output
    return output + lora(inputs[0]).to(output.dtype)


branch_hook("lora", _hook)


def fold_into_state(state: dict[str, torch.Tensor], name: str, module: nn.Module) -> None:
    """Merged export: W + (alpha/r) B A in a full state dict (`name`: the linear's name)."""
    if hasattr(module, "autopeft_lora"):
        weight = f"{name}.weight"
        state[weight] += lora_of(module).delta_weight().to(state[weight].dtype)


def elastic_modules(ctx, slot: str) -> list[nn.Module]:
    """The supernet's switchable modules of one slot: the LoRA on each of its linears."""
    return [linear.autopeft_lora for linear in ctx.projections(slot)]


def attach(ctx, options: dict[str, int], glob: LoRAGlobals) -> None:
    """Attach one LoRA per chosen projection of a layer."""
    for slot, rank in options.items():
        for linear in ctx.projections(slot):
            lora = LoRA(linear.in_features, linear.out_features, rank, glob.alpha_ratio, glob.dropout, glob.gate)
            ctx.peft.add_module("lora", linear, "lora", lora)
            ctx.peft.add_hook(linear.register_forward_hook(_hook))
            ctx.peft.add_undo(lambda linear=linear: unmerge(linear) if hasattr(linear, "autopeft_lora") else None)
