"""How serial adapters export to AdapterHub: a bottleneck config per placement.

Ours apply the adapter to the output projection's output before the residual and LayerNorm,
which is adapters' `original_ln_before=False, residual_before_ln=True, original_ln_after=True`
(Houlsby's placement; checked by experiments/adapters_export/check.py)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_PLACE = {"attn": "attention.output", "ffn": "output"}  # adapters' module per slot on BERT-like models


def bottleneck_configs(method: str, candidate: Any, hidden: int, parallel: bool, scaling: float) -> list[dict]:
    """One adapters bottleneck config per slot (attn, ffn) that `method` uses somewhere."""
    glob = candidate.globals[method]
    out = []
    for slot in ("attn", "ffn"):
        widths = {str(i): layer[method][slot] for i, layer in enumerate(candidate.layers)
                  if slot in layer.get(method, {})}
        if not widths:
            continue
        out.append({
            "mh_adapter": slot == "attn", "output_adapter": slot == "ffn",
            "reduction_factor": {i: hidden // w for i, w in widths.items()} | {"default": 1},
            "leave_out": [i for i in range(len(candidate.layers)) if str(i) not in widths],
            "non_linearity": glob.get("activation", "relu"), "is_parallel": parallel, "scaling": scaling,
            "original_ln_before": False, "original_ln_after": True, "residual_before_ln": not parallel,
            "ln_before": False, "ln_after": False, "init_weights": "bert", "dropout": 0.0, "use_gating": False,
        })
    return out


def bottleneck_tensors(method: str, name: str, module: nn.Module, anatomy: Any,
                       adapter: str) -> dict[str, torch.Tensor]:
    """A bottleneck hanging off `module` (an output projection) under adapters' key names."""
    attr = f"autopeft_{method}"
    if not hasattr(module, attr):
        return {}
    bottleneck = getattr(module, attr).bottleneck
    o, ffn_out = anatomy.o, anatomy.ffn_out
    # the attention output projection ends with the FFN's name too: test the longer one first
    place = _PLACE["attn"] if name.endswith(o) else _PLACE["ffn"]
    layer = name[: -len(o)] if name.endswith(o) else name[: -len(ffn_out)]
    key = f"{layer}{place}.adapters.{adapter}"
    return {f"{key}.adapter_down.0.weight": bottleneck.down.weight, f"{key}.adapter_down.0.bias": bottleneck.down.bias,
            f"{key}.adapter_up.weight": bottleneck.up.weight, f"{key}.adapter_up.bias": bottleneck.up.bias}


def adapters_configs(candidate: Any, hidden: int) -> list[dict]:
    return bottleneck_configs("serial_adapter", candidate, hidden, parallel=False, scaling=1.0)


def adapters_tensors(name: str, module: nn.Module, anatomy: Any, adapter: str) -> dict[str, torch.Tensor]:
    return bottleneck_tensors("serial_adapter", name, module, anatomy, adapter)
