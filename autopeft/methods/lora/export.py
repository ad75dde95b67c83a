"""How LoRA exports: a peft `LoraConfig` with per-module ranks (BitFit beside it as
bias='lora_only'), and an AdapterHub `LoRAConfig` (one rank, the same projections in every layer)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import torch
from torch import nn

from autopeft.methods.common import modules_with
from autopeft.methods.lora.module import lora_of

_ADAPTERS_ATTN = ("q", "k", "v")  # adapters' attn_matrices


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


def peft_config(hf: Any, ref: nn.Module, peft: Any, common: dict[str, Any]) -> Any:
    candidate = peft.candidate
    loras = {n: lora_of(m) for n, m in modules_with(ref, "autopeft_lora").items()}
    ratio = float(candidate.globals["lora"]["alpha_ratio"])
    rank = Counter(m.rank for m in loras.values()).most_common(1)[0][0]
    # one fully qualified key per module: partial keys can match several modules or none
    return hf.LoraConfig(
        r=rank, lora_alpha=_num(ratio * rank), target_modules=sorted(loras),
        rank_pattern={n: m.rank for n, m in loras.items()},
        alpha_pattern={n: _num(ratio * m.rank) for n, m in loras.items()},
        lora_dropout=float(candidate.globals["lora"].get("dropout", 0.0)),
        bias="lora_only" if "bitfit" in candidate.methods else "none", **common,
    )


@torch.no_grad()
def peft_copy(inner: nn.Module, ref: nn.Module, peft: Any) -> None:
    for name, owner in modules_with(ref, "autopeft_lora").items():
        lora = lora_of(owner)
        # peft's LoraLayer: per-adapter lora_A/lora_B linears beside the wrapped base_layer
        inner.get_parameter(f"{name}.lora_A.default.weight").copy_(lora.A.weight)
        inner.get_parameter(f"{name}.lora_B.default.weight").copy_(lora.B.weight)
        if "bitfit" in peft.candidate.methods:
            inner.get_parameter(f"{name}.base_layer.bias").copy_(ref.get_parameter(f"{name}.bias"))


def peft_check(inner: nn.Module, ref: nn.Module) -> list[str]:
    """The LoRA layers peft built are exactly ours, with our ranks and scalings."""
    from peft.tuners.lora import LoraLayer

    problems = []
    built = {n: m for n, m in inner.named_modules() if isinstance(m, LoraLayer)}
    wanted = {n: lora_of(m) for n, m in modules_with(ref, "autopeft_lora").items()}
    if set(built) != set(wanted):
        problems.append(f"LoRA on {sorted(set(built) ^ set(wanted))[:3]} differs from the candidate")
    for name, lora in wanted.items():
        m = built.get(name)
        if m is not None and (m.r["default"] != lora.rank or abs(m.scaling["default"] - lora.scaling) > 1e-9):
            problems.append(f"{name}: rank {m.r['default']} scaling {m.scaling['default']}, "
                            f"wanted rank {lora.rank} scaling {lora.scaling}")
    return problems


def adapters_configs(candidate: Any, hidden: int) -> list[dict[str, Any]]:
    layers = [layer.get("lora", {}) for layer in candidate.layers]
    used = next(layer for layer in layers if layer)
    r = next(iter(used.values()))
    return [{
        "architecture": "lora", "r": r, "alpha": candidate.globals["lora"]["alpha_ratio"] * r,
        "attn_matrices": sorted(s for s in used if s in _ADAPTERS_ATTN),
        "selfattn_lora": any(s in _ADAPTERS_ATTN for s in used),
        "intermediate_lora": "ffn_in" in used, "output_lora": "ffn_out" in used,
        "leave_out": [i for i, layer in enumerate(layers) if not layer], "composition_mode": "add",
        "dropout": float(candidate.globals["lora"].get("dropout", 0.0)), "init_weights": "lora", "use_gating": False,
    }]


def adapters_tensors(name: str, module: nn.Module, anatomy: Any, adapter: str) -> dict[str, torch.Tensor]:
    if not hasattr(module, "autopeft_lora"):
        return {}
    lora = lora_of(module)
    return {f"{name}.loras.{adapter}.lora_A": lora.A.weight, f"{name}.loras.{adapter}.lora_B": lora.B.weight}
