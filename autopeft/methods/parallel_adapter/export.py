"""How parallel adapters export to AdapterHub: adapters' `is_parallel=True` bottleneck, reading the
block's input and adding to its output with the same `scaling` (checked by
experiments/adapters_export/check.py)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from autopeft.methods.serial_adapter.export import bottleneck_configs, bottleneck_tensors


def adapters_configs(candidate: Any, hidden: int) -> list[dict]:
    scale = float(candidate.globals["parallel_adapter"].get("scale", 4.0))
    return bottleneck_configs("parallel_adapter", candidate, hidden, parallel=True, scaling=scale)


def adapters_tensors(name: str, module: nn.Module, anatomy: Any, adapter: str) -> dict[str, torch.Tensor]:
    return bottleneck_tensors("parallel_adapter", name, module, anatomy, adapter)
