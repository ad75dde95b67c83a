"""`--kernels plain|fused|triton|auto`: how the branches on a frozen linear are computed.

`plain` runs each method's own hooks; `fused` one hook per linear with the branches' matmuls
merged (`fuse.py`); `triton` the same with the up-accumulate's forward as a Triton kernel, which
needs CUDA (or Triton's interpreter, `TRITON_INTERPRET=1`, which tests use on the CPU). `auto`
takes triton on CUDA where triton imports, else `AUTO_CPU` (what measured fastest on this
project's CPU at equal scores: experiments/kernel_speed)."""

from __future__ import annotations

import importlib.util
import os
from typing import Any

from autopeft.errors import UserError

KERNELS = ("auto", "plain", "fused", "triton")
AUTO_CPU = "fused"  # experiments/kernel_speed/README.md


def triton_available() -> bool:
    """Whether the triton package can be imported (an optional extra: `pip install 'autopeft[triton]'`)."""
    return importlib.util.find_spec("triton") is not None


def resolve_kernels(requested: str, device: Any) -> str:
    """`plain`, `fused` or `triton` for a request on `device`; one clear line when it cannot run."""
    import torch

    if requested not in KERNELS:
        raise UserError(f"unknown kernels {requested!r}; use one of {', '.join(KERNELS)}")
    cuda = torch.device(device).type == "cuda"
    if requested == "auto":
        if cuda:
            return "triton" if triton_available() else "fused"
        return AUTO_CPU
    if requested == "triton":
        if not triton_available():
            raise UserError("--kernels triton needs the triton package: pip install 'autopeft[triton]' "
                            "(or use --kernels fused)")
        if not cuda and os.environ.get("TRITON_INTERPRET") != "1":
            raise UserError("--kernels triton runs on CUDA devices; on the CPU use --kernels fused")
    return requested
