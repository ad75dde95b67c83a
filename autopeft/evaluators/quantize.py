"""Quantized backbones (`--quantize 4bit|8bit`): the frozen weights stored by bitsandbytes.

The backbone loads through transformers' `BitsAndBytesConfig`: 4-bit is QLoRA's storage (NF4 with
double quantization), 8-bit is LLM.int8. Only the backbone's linear layers are quantized; the task
head and a pooler (BERT's belongs to the backbone, but it is freshly trained-for-purpose and tiny)
stay float32, and every PEFT module is float32 because it is attached afterwards.

The quantized layers compute in float32 (`bnb_4bit_compute_dtype`): QLoRA's bf16 arithmetic comes
from `--precision bf16`, whose autocast runs the dequantized matmuls in bfloat16. A bf16 compute
dtype would instead make bitsandbytes rewrite each quantized linear's bias to bf16 in place
(`Linear4bit.forward`, bitsandbytes 0.50.2), so BitFit would train a bf16 bias. `Linear8bitLt`
rewrites its bias to its input's dtype whatever the settings, so `guard_int8_bias` hands 8-bit layers
float32 inputs.

The trap (shared/DESIGN.md): on a CPU with AVX512-BF16 an eval-mode forward without gradients
repacks a 4-bit weight into a layout that only bitsandbytes' inference kernel reads, with no
autograd; training afterwards crashes or silently loses the gradient through the frozen layer. A
worker scores (eval) between candidates, so `guard_eval_repack` turns the repacking off on such
CPUs and `check_trainable` refuses to train a model that was repacked anyway.

Torch, transformers and bitsandbytes are imported inside the functions: `space show` and the CLI's
option checks use this module without them.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from autopeft.errors import UserError
from autopeft.evaluators.precision import CPUINFO, FAST_BF16_FLAGS, cpu_flags

QUANTIZATIONS = ("4bit", "8bit")
FULL = "fp32"  # what an unquantized backbone is called in run.json and reports
DEVICES = ("cpu", "cuda")  # where bitsandbytes 0.50 runs both forward and backward
BNB_RANGE = ">=0.50.2,<0.51"  # pyproject.toml's range, for the install hint
# Storage bytes per quantized weight (estimate for `space show`): NF4 packs two weights a byte, plus
# one 8-bit absmax per 64-weight block and one float32 per 256 blocks (double quantization);
# LLM.int8 stores a byte a weight plus one float32 scale per output row (added separately).
BYTES_PER_WEIGHT = {"4bit": 0.5 + 1 / 64 + 4 / (64 * 256), "8bit": 1.0}
# bitsandbytes warns on every 8-bit forward that it casts float32 inputs to float16: expected, and
# said once in the docs instead (DESIGN: "8-bit casts inputs to fp16").
_INT8_CAST_WARNING = "MatMul8bitLt: inputs will be cast"


def parse_quantize(value: str | None) -> str | None:
    """`4bit`, `8bit`, or None for a full-precision backbone (`none`/`fp32`/empty); else one clear line."""
    if value is None or str(value).strip().lower() in ("", "none", FULL):
        return None
    text = str(value).strip().lower()
    if text not in QUANTIZATIONS:
        raise UserError(f"--quantize {value!r}: use 4bit or 8bit (or leave it out for a full-precision backbone)")
    return text


def require_bitsandbytes(quantize: str) -> str:
    """bitsandbytes' version; a one-line UserError when it cannot be imported."""
    # its CPU backend logs at import that an optional inference kernel (hub `kernels`) is missing; that
    # kernel serves only the eval repacking that guard_eval_repack turns off, so the line is noise here
    quiet = logging.getLogger("bitsandbytes")
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        import bitsandbytes
    except Exception as exc:  # ImportError, or a broken native library raising at import
        raise UserError(f"--quantize {quantize} needs bitsandbytes, which cannot be imported "
                        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else 'no module'}); "
                        f"pip install 'bitsandbytes{BNB_RANGE}', or leave out --quantize") from None
    finally:
        quiet.setLevel(level)
    return str(getattr(bitsandbytes, "__version__", "?"))


def check_device(quantize: str, device: str) -> None:
    """bitsandbytes trains on the CPU and CUDA only: anything else is one clear line."""
    kind = str(device).split(":")[0]
    if kind not in DEVICES:
        raise UserError(f"--quantize {quantize} runs on the CPU or CUDA, not {device!r}; pass --device cpu or cuda, "
                        "or leave out --quantize")


def skip_modules(model_class: Any, config: Any) -> list[str]:
    """What must stay float32: the head (every top-level module outside the backbone, e.g.
    `classifier`, `score`) and the backbone's pooler under its full name (`bert.pooler`:
    bitsandbytes matches module names, and the bare word `pooler` matches nothing)."""
    import torch

    with torch.device("meta"):  # the structure only: no memory, no weights
        skeleton = model_class.from_config(config)
    backbone = skeleton.base_model
    names = [name for name, module in skeleton.named_children()
             if module is not backbone and any(True for _ in module.parameters())]  # not dropout
    prefix = next((f"{n}." for n, m in skeleton.named_children() if m is backbone), "")
    if getattr(backbone, "pooler", None) is not None:
        names.append(f"{prefix}pooler")
    return names


def bnb_config(quantize: str, skip: list[str]) -> Any:
    """transformers' `BitsAndBytesConfig` for `quantize`, never touching the modules in `skip`."""
    import torch
    from transformers import BitsAndBytesConfig

    if quantize == "4bit":
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=torch.float32, llm_int8_skip_modules=skip)
    return BitsAndBytesConfig(load_in_8bit=True, llm_int8_skip_modules=skip)


def quantized_modules(model: Any) -> list[str]:
    """Names of the model's bitsandbytes linears."""
    return [name for name, module in model.named_modules()
            if type(module).__name__ in ("Linear4bit", "Linear8bitLt", "LinearNF4", "LinearFP4")]


def is_quantized(model: Any) -> bool:
    """Whether a (task) model holds bitsandbytes layers."""
    return bool(quantized_modules(model))


def check_quantized(model: Any, quantize: str, name: str, skip: list[str]) -> None:
    """Every linear of the backbone outside `skip` was quantized; else the layer is unsupported."""
    from torch import nn

    quantized = set(quantized_modules(model))
    plain = [n for n, m in model.named_modules() if type(m) is nn.Linear and n not in quantized
             and not any(n == s or n.startswith(f"{s}.") for s in skip)]
    if not quantized:
        raise UserError(f"--quantize {quantize}: {name} has no linear layer bitsandbytes can quantize "
                        "(its projections are another kind of layer); leave out --quantize for this model")
    if plain:
        raise UserError(f"--quantize {quantize}: {len(plain)} linear layers of {name} stayed unquantized "
                        f"(e.g. {plain[0]}); leave out --quantize for this model")


def repacks_in_eval(device: str, cpuinfo: Path = CPUINFO) -> bool:
    """Whether bitsandbytes repacks 4-bit weights in an eval forward here (a CPU with native bf16)."""
    return str(device).split(":")[0] == "cpu" and bool(cpu_flags(cpuinfo) & FAST_BF16_FLAGS)


def guard_eval_repack(model: Any, device: str, cpuinfo: Path = CPUINFO) -> int:
    """Keep 4-bit weights in the layout training reads: on a CPU that repacks in eval, turn the
    repacking off for every 4-bit layer (scoring then dequantizes like training does). Returns how
    many layers were guarded (0 where nothing repacks)."""
    if not repacks_in_eval(device, cpuinfo):
        return 0
    guarded = 0
    for module in model.modules():
        if hasattr(module, "support_avx512bf16_for_cpu"):  # bitsandbytes' Linear4bit
            module.support_avx512bf16_for_cpu = False
            guarded += 1
    return guarded


def guard_int8_bias(model: Any) -> int:
    """Keep each 8-bit layer's bias float32 and trainable: `Linear8bitLt.forward` (bitsandbytes
    0.50.2) rewrites its bias in place to its input's dtype. Under `--precision bf16` that input is
    bfloat16, so BitFit would train a bf16 bias, and a rewrite inside a scoring pass (inference
    mode) leaves an inference tensor that the next candidate's BitFit cannot train at all (a
    RuntimeError, found in a bf16 8-bit search). A pre-hook hands the layer its input in float32,
    which costs no precision: its int8 matmul casts inputs to float16 either way. Returns how many
    layers were guarded."""
    import torch

    def float32_input(module: Any, args: tuple) -> tuple | None:
        x = args[0]
        return None if x.dtype == torch.float32 else (x.float(), *args[1:])

    guarded = 0
    for module in model.modules():
        if type(module).__name__ == "Linear8bitLt":
            module.register_forward_pre_hook(float32_input)
            guarded += 1
    return guarded


def repacked(model: Any) -> list[str]:
    """4-bit layers whose weights an eval forward repacked for the inference kernel."""
    return [name for name, module in model.named_modules()
            if getattr(getattr(getattr(module, "weight", None), "quant_state", None), "packing_format_for_cpu", False)]


def check_trainable(model: Any) -> None:
    """Refuse to train weights repacked for inference (no autograd through them): fail loudly
    rather than train with the gradient through the frozen layers missing."""
    packed = repacked(model)
    if packed:
        raise RuntimeError(f"{len(packed)} 4-bit layers (e.g. {packed[0]}) were repacked for CPU inference by an "
                           "eval forward and have no autograd; load the backbone with autopeft, which guards this")


def quiet_int8_warnings() -> None:
    """Silence bitsandbytes' per-forward note that 8-bit layers cast their inputs to float16."""
    import warnings

    warnings.filterwarnings("ignore", message=_INT8_CAST_WARNING)


def backbone_info(model: Any, quantize: str | None, backbone_params: int | None) -> dict[str, Any]:
    """The backbone's precision and memory footprint, as run.json and reports state them."""
    footprint = model.get_memory_footprint() if hasattr(model, "get_memory_footprint") else None
    info: dict[str, Any] = {"quantize": quantize or FULL,
                            "weights": {"4bit": "NF4, double quantization", "8bit": "int8 (LLM.int8)"}.get(
                                quantize or "", "float32"),
                            "footprint_mb": round(footprint / 2**20, 1) if footprint else None,
                            "fp32_backbone_mb": round(4 * backbone_params / 2**20, 1) if backbone_params else None}
    if quantize:
        info["quantized_linears"] = len(quantized_modules(model))
        info["compute"] = "float32 (bf16 under --precision bf16)"
    return info


def estimate_mb(dims: Any, quantize: str | None, num_labels: int = 2) -> float | None:
    """The backbone + head's weight memory, estimated from the config (torch-free): the layers'
    projections at the quantized width, everything else float32. None without a parameter formula."""
    if dims.backbone_params is None:
        return None
    total = dims.backbone_params + dims.head_params(num_labels)
    if not quantize:
        return 4 * total / 2**20
    weights = rows = 0
    for p in ("q", "k", "v", "o", "ffn_in", "ffn_out"):
        d_in, d_out = dims.in_out(p)
        weights += dims.copies(p) * d_in * d_out
        rows += dims.copies(p) * d_out
    weights, rows = weights * dims.num_layers, rows * dims.num_layers
    scales = 4 * rows if quantize == "8bit" else 0
    return (4 * (total - weights) + BYTES_PER_WEIGHT[quantize] * weights + scales) / 2**20
