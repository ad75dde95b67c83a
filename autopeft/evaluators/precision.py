"""The precision trials train in: float32, or bfloat16 autocast where the device does bf16 fast.

Under `bf16` the forward and backward run under `torch.autocast(dtype=bfloat16)` while the weights,
gradients and AdamW's moments stay float32 (mixed precision: nothing is rounded between steps).
A trial is scored under its training precision too: bf16 scoring gave the float32 scores (99.8% of
predictions the same) in 0.6-0.66x the time (experiments/precision/scoring.py), and scoring is about a
quarter of a `quick` trial and all of the front's test scoring.

`auto` takes bf16 on CUDA devices that support it and on CPUs with native bf16 instructions
(AVX512-BF16 or AMX-BF16: machines of this project's kind differ, an earlier one had AVX2 only,
where bf16 would be emulated and slower), float32 elsewhere. `auto` is the default of `search` and
`train`: over 9 paired trainings at `standard` bf16's test scores were those of float32 (differences
of 0.0009 at most, paired p >= 0.49) and its steps 0.74-0.83x as long (experiments/precision,
experiments/kernel_speed).

Under bf16 on the CPU the backbone's attention runs eager (`attention_for`): PyTorch's CPU SDPA
(flash) backward in bfloat16 took 5.6x its float32 time, 220 against 40 ms a layer on MiniLM's
batch, while the eager matmul-softmax-matmul took 18 ms (experiments/kernel_speed/attention.py). On
CUDA and in float32 SDPA stays: there it is the faster one.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

from autopeft.errors import UserError

PRECISIONS = ("fp32", "bf16", "auto")
ATTENTIONS = ("auto", "sdpa", "eager")  # --attention: the backbone's attention kernel
# CPU flags (Linux /proc/cpuinfo) that make bfloat16 matmuls native rather than emulated
FAST_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = CPUINFO) -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo is not there: not Linux)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


# the flags that move a CPU's training speed most: a run's record names those its machine has
SPEED_FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def cpu_model(cpuinfo: Path = CPUINFO) -> str | None:
    """The CPU's model name (None where /proc/cpuinfo is not there)."""
    try:
        text = cpuinfo.read_text()
    except OSError:
        return None
    return next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name")),
                None)


def machine_info(cpuinfo: Path = CPUINFO) -> dict[str, Any]:
    """What run.json records of the machine: CPU timings (`--clock cpu`) compare only between runs on
    machines alike (experiments/search_quality measured one 2-3x slower per CPU-second than another)."""
    import os

    flags = cpu_flags(cpuinfo)
    return {"cpu": cpu_model(cpuinfo), "cpus": os.cpu_count(), "flags": [f for f in SPEED_FLAGS if f in flags]}


def fast_bf16(device: Any, cpuinfo: Path = CPUINFO) -> bool:
    """Whether `device` computes bfloat16 natively (CUDA with bf16 support, or a CPU with the flags)."""
    import torch

    kind = torch.device(device).type
    if kind == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return kind == "cpu" and bool(cpu_flags(cpuinfo) & FAST_BF16_FLAGS)


def resolve_precision(requested: str, device: Any, cpuinfo: Path = CPUINFO, quantize: str | None = None) -> str:
    """`fp32` or `bf16` for a requested `fp32|bf16|auto` on `device` (one clear error otherwise).

    `auto` keeps fp32 on a quantized backbone: bf16 was measured to keep the scores on full-precision
    backbones only (experiments/quantized trained in fp32). (`--precision bf16` works there: an 8-bit
    search under it once failed a trial, since bitsandbytes rewrote a bias in place, now guarded by
    quantize.guard_int8_bias.)"""
    if requested not in PRECISIONS:
        raise UserError(f"unknown precision {requested!r}; use one of {', '.join(PRECISIONS)}")
    if requested == "auto":
        return "bf16" if fast_bf16(device, cpuinfo) and not quantize else "fp32"
    return requested


def precision_autocast(precision: str, device: Any) -> contextlib.AbstractContextManager:
    """The context a forward runs in, training or scoring (autocast for bf16, nothing for fp32)."""
    import torch

    if precision != "bf16":
        return contextlib.nullcontext()
    return torch.autocast(torch.device(device).type, dtype=torch.bfloat16)


def attention_for(precision: str, device: Any, requested: str = "auto") -> str:
    """The backbone's attention kernel for a resolved precision on `device`: as `requested` (`sdpa` or
    `eager`), or for `auto` `eager` under bf16 on the CPU (SDPA's CPU backward in bf16 is the slow one,
    module docstring) and `sdpa` elsewhere."""
    import torch

    if requested not in ATTENTIONS:
        raise UserError(f"unknown attention {requested!r}; use one of {', '.join(ATTENTIONS)}")
    if requested != "auto":
        return requested
    return "eager" if precision == "bf16" and torch.device(device).type == "cpu" else "sdpa"


def attention_of(model: Any) -> str:
    """The attention implementation a transformers model runs (sdpa, eager, autopeft_sdpa, ...)."""
    return str(model.config._attn_implementation)


def set_attention(model: Any, implementation: str) -> None:
    """Run `model`'s attention through `implementation` (transformers' registry of kernels)."""
    model.set_attn_implementation(implementation)


def use_attention(model: Any, precision: str, device: Any, requested: str = "auto") -> str:
    """Switch a freshly loaded SDPA backbone to `attention_for`'s kernel; returns what it runs.
    (A backbone loaded with another implementation is left as it is.)"""
    wanted = attention_for(precision, device, requested)
    if attention_of(model) == "sdpa" and wanted != "sdpa":
        set_attention(model, wanted)
    return attention_of(model)
