"""Export to AdapterHub `adapters`: serial/parallel bottleneck adapters and LoRA as one ConfigUnion.

`adapters` pins transformers ~=4.57.6, so nothing here imports it: the config is written as the
JSON its `save_adapter` writes (schema checked with adapters 1.3.0), the weights under its key
names with safetensors, the head as `head.safetensors`, and probe inputs with our logits as
`probe.safetensors`, which experiments/adapters_export/check.py compares in its own environment.

How each method maps (placements, key names) is in its own `methods/<name>/export.py`."""

from __future__ import annotations

import json
from pathlib import Path

import torch

from autopeft.methods.registry import ATTACH_ORDER, METHODS, export_module

NAME = "autopeft"


def adapters_methods(candidate) -> list[str]:
    """The methods of `candidate`, in attach order."""
    return [m for m in ATTACH_ORDER if m in candidate.methods]


def adapters_blockers(candidate, peft) -> list[str]:
    """Why `adapters` cannot express `candidate` (empty when it can): the family, each method's own
    reasons (`MethodSpec.adapters_blockers`; a method that does not export has one), then clashes."""
    reasons = []
    if peft.anatomy.o != "attention.output.dense":
        reasons.append(f"the {peft.anatomy.name} family (only BERT-like layouts are mapped)")
    for method in adapters_methods(candidate):
        reasons += METHODS[method].adapters_blockers(candidate, peft.dims)
    for slot in ("attn", "ffn"):
        if any(slot in layer.get("serial_adapter", {}) and slot in layer.get("parallel_adapter", {})
               for layer in candidate.layers):
            reasons.append(f"a serial and a parallel adapter both at {slot} (one bottleneck per placement)")
    return reasons


def adapter_config(peft, model_class: str) -> dict:
    """adapters' `adapter_config.json` for the attached candidate (each method's `adapters_configs`)."""
    candidate, hidden = peft.candidate, peft.dims.hidden
    configs = [c for m in adapters_methods(candidate) for c in export_module(m).adapters_configs(candidate, hidden)]
    config = configs[0] if len(configs) == 1 else {"architecture": "union", "configs": configs}
    return {"config": config, "hidden_size": hidden, "model_class": model_class,
            "model_name": "", "model_type": peft.model.config.model_type, "name": NAME, "version": "adapters.1.3.0"}


def adapter_tensors(peft) -> dict[str, torch.Tensor]:
    """Our tensors under adapters' key names (BERT-like layout; each method's `adapters_tensors`)."""
    exporters = [export_module(m).adapters_tensors for m in adapters_methods(peft.candidate)]
    out: dict[str, torch.Tensor] = {}
    for name, module in peft.model.named_modules():
        for tensors in exporters:
            out |= tensors(name, module, peft.anatomy, NAME)
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
