"""Export to AdapterHub `adapters`: serial/parallel bottleneck adapters and LoRA as one ConfigUnion.

`adapters` pins transformers ~=4.57.6, so nothing here imports it: the config is written as the
JSON its `save_adapter` writes (schema checked with adapters 1.3.0), the weights under its key
names with safetensors, the head as `head.safetensors`, and probe inputs with our logits as
`probe.safetensors`, which experiments/adapters_export/check.py compares in its own environment.

Placements (checked there): ours apply a serial adapter to the output projection's output before
the residual and LayerNorm, which is adapters' `original_ln_before=False, residual_before_ln=True,
original_ln_after=True` (Houlsby's); a parallel adapter reads the block's input and adds to its
output, adapters' `is_parallel=True` with the same `scaling`."""

from __future__ import annotations

import json
from pathlib import Path

import torch

NAME = "autopeft"
_SLOT_FLAG = {"attn": "mh_adapter", "ffn": "output_adapter"}
_PLACE = {"attn": "attention.output", "ffn": "output"}  # adapters' module per slot on BERT-like models
_LORA_SLOTS = {"q": "q", "k": "k", "v": "v"}


def adapters_blockers(candidate, peft) -> list[str]:
    """Why `adapters` cannot express `candidate` (empty when it can)."""
    reasons = []
    glob = candidate.globals
    if peft.anatomy.o != "attention.output.dense":
        reasons.append(f"the {peft.anatomy.name} family (only BERT-like layouts are mapped)")
    for method, why in (("bitfit", "BitFit (no adapters method)"),
                        ("ia3", "(IA)3 (not mapped: adapters' IA3 scales the FFN before its activation)"),
                        ("prefix", "prefix tuning (adapters cannot save it with safetensors: shared tensors)"),
                        ("prompt", "prompt tokens (adapters' prompt tuning enters before the embeddings' LayerNorm)")):
        if method in candidate.methods:
            reasons.append(why)
    for method in ("lora", "serial_adapter"):
        if glob.get(method, {}).get("gate"):
            reasons.append(f"{method} gates (UniPELT's gate is not adapters' use_gating)")
    hidden = peft.dims.hidden
    for method in ("serial_adapter", "parallel_adapter"):
        widths = {w for layer in candidate.layers for w in layer.get(method, {}).values()}
        if any(hidden % w for w in widths):
            reasons.append(f"{method} widths {sorted(widths)} that do not divide hidden {hidden} (reduction_factor)")
    for slot in ("attn", "ffn"):
        if any(slot in layer.get("serial_adapter", {}) and slot in layer.get("parallel_adapter", {})
               for layer in candidate.layers):
            reasons.append(f"a serial and a parallel adapter both at {slot} (one bottleneck per placement)")
    if "lora" in candidate.methods:
        ranks = {r for layer in candidate.layers for r in layer.get("lora", {}).values()}
        slots = {frozenset(layer["lora"]) for layer in candidate.layers if "lora" in layer}
        if len(ranks) > 1:
            reasons.append(f"LoRA ranks {sorted(ranks)} (LoRAConfig has one r)")
        if len(slots) > 1:
            reasons.append("LoRA on different projections per layer (LoRAConfig has one attn_matrices)")
        if {s for layer in candidate.layers for s in layer.get("lora", {})} & {"o"}:
            reasons.append("LoRA on the attention output projection (not a LoRAConfig target)")
    return reasons


def _bn(slot: str, method: str, candidate, hidden: int) -> dict:
    glob = candidate.globals[method]
    widths = {str(i): layer[method][slot] for i, layer in enumerate(candidate.layers) if slot in layer.get(method, {})}
    parallel = method == "parallel_adapter"
    return {
        "mh_adapter": slot == "attn", "output_adapter": slot == "ffn",
        "reduction_factor": {i: hidden // w for i, w in widths.items()} | {"default": 1},
        "leave_out": [i for i in range(len(candidate.layers)) if str(i) not in widths],
        "non_linearity": glob.get("activation", "relu"), "is_parallel": parallel,
        "scaling": float(glob.get("scale", 4.0)) if parallel else 1.0,
        "original_ln_before": False, "original_ln_after": True, "residual_before_ln": not parallel,
        "ln_before": False, "ln_after": False, "init_weights": "bert", "dropout": 0.0, "use_gating": False,
    }


def _lora(candidate) -> dict:
    layers = [layer.get("lora", {}) for layer in candidate.layers]
    used = next(layer for layer in layers if layer)
    r = next(iter(used.values()))
    return {
        "architecture": "lora", "r": r, "alpha": candidate.globals["lora"]["alpha_ratio"] * r,
        "attn_matrices": sorted(s for s in used if s in _LORA_SLOTS),
        "selfattn_lora": any(s in _LORA_SLOTS for s in used),
        "intermediate_lora": "ffn_in" in used, "output_lora": "ffn_out" in used,
        "leave_out": [i for i, layer in enumerate(layers) if not layer], "composition_mode": "add",
        "dropout": float(candidate.globals["lora"].get("dropout", 0.0)), "init_weights": "lora", "use_gating": False,
    }


def adapter_config(peft, model_class: str) -> dict:
    """adapters' `adapter_config.json` for the attached candidate."""
    candidate, hidden = peft.candidate, peft.dims.hidden
    configs = [_bn(slot, method, candidate, hidden) for method in ("serial_adapter", "parallel_adapter")
               for slot in ("attn", "ffn") if any(slot in layer.get(method, {}) for layer in candidate.layers)]
    if "lora" in candidate.methods:
        configs.append(_lora(candidate))
    config = configs[0] if len(configs) == 1 else {"architecture": "union", "configs": configs}
    return {"config": config, "hidden_size": hidden, "model_class": model_class,
            "model_name": "", "model_type": peft.model.config.model_type, "name": NAME, "version": "adapters.1.3.0"}


def adapter_tensors(peft) -> dict[str, torch.Tensor]:
    """Our tensors under adapters' key names (BERT-like layout)."""
    out = {}
    o, ffn_out = peft.anatomy.o, peft.anatomy.ffn_out
    for name, module in peft.model.named_modules():
        for attr in ("autopeft_serial_adapter", "autopeft_parallel_adapter"):
            if hasattr(module, attr):
                bottleneck = getattr(module, attr).bottleneck
                # the attention output projection ends with the FFN's name too: test the longer one first
                place = _PLACE["attn"] if name.endswith(o) else _PLACE["ffn"]
                layer = name[: -len(o)] if name.endswith(o) else name[: -len(ffn_out)]
                key = f"{layer}{place}.adapters.{NAME}"
                out |= {f"{key}.adapter_down.0.weight": bottleneck.down.weight, f"{key}.adapter_down.0.bias":
                        bottleneck.down.bias, f"{key}.adapter_up.weight": bottleneck.up.weight,
                        f"{key}.adapter_up.bias": bottleneck.up.bias}
        if hasattr(module, "autopeft_lora"):
            lora = module.autopeft_lora
            out[f"{name}.loras.{NAME}.lora_A"] = lora.A.weight
            out[f"{name}.loras.{NAME}.lora_B"] = lora.B.weight
    return {k: v.detach().cpu().clone().contiguous() for k, v in out.items()}


def write_adapters(out: Path, ref, peft, info) -> list[Path]:
    """Write the adapters export: config, weights, head and the probe our logits give."""
    from safetensors.torch import save_file

    from autopeft.export.probe import logits_of, probe_inputs

    out.mkdir(parents=True, exist_ok=True)
    (out / "adapter_config.json").write_text(json.dumps(adapter_config(peft, type(ref).__name__), indent=2) + "\n")
    save_file(adapter_tensors(peft), str(out / "adapter.safetensors"))
    head = {n: p.detach().cpu().clone().contiguous() for n, p in peft.head_parameters()}
    save_file(head, str(out / "head.safetensors"))
    inputs = probe_inputs(ref)
    save_file(inputs | {"logits": logits_of(ref, inputs)}, str(out / "probe.safetensors"))
    return [out / f for f in ("adapter_config.json", "adapter.safetensors", "head.safetensors", "probe.safetensors")]
