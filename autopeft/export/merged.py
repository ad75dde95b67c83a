"""`--merged`: a full transformers model with LoRA, (IA)3 and BitFit folded into its weights.

What cannot be folded (adapters, prefixes, prompt tokens, gated LoRA: each depends on the input
beyond one linear map) stays a native export in the same directory, whose backbone is the merged
model itself (`.`), so `autopeft.export.native.load_pretrained(DIR)` rebuilds the whole candidate."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch import nn

from autopeft.methods.registry import ATTACH_ORDER, METHODS, method_module

if TYPE_CHECKING:
    from autopeft.methods.candidate import Candidate


def split_candidate(candidate: Candidate) -> tuple[list[str], Candidate | None]:
    """(methods folded, in attach order, and the candidate of what remains or None); each method's
    spec says whether it folds (`MethodSpec.folds`)."""
    from autopeft.methods.candidate import Candidate

    folded = [m for m in ATTACH_ORDER if m in candidate.methods and METHODS[m].folds(candidate.globals.get(m, {}))]
    layers = [{m: o for m, o in layer.items() if m not in folded} for layer in candidate.layers]
    if not any(layers):
        return folded, None
    return folded, Candidate(layers, {m: g for m, g in candidate.globals.items() if m not in folded})


@torch.no_grad()
def merged_state(ref: nn.Module, folded: list[str]) -> dict[str, torch.Tensor]:
    """The task model's full state with the folded methods merged into the weights.

    Each method folds itself (`module.fold_into_state`), in attach order, which is the order its
    hooks run: LoRA before (IA)3, so a linear with both becomes l * (W + dW)."""
    state = {k: v.detach().clone() for k, v in ref.state_dict().items() if "autopeft_" not in k}
    folders = [method_module(m).fold_into_state for m in folded]
    for name, module in ref.named_modules():
        for fold in folders:
            fold(state, name, module)
    return state


def remainder_tensors(peft, remainder) -> dict[str, torch.Tensor]:
    """The tensors of the methods that were not folded (all in autopeft_* modules), plus the head."""
    kinds = {f".autopeft_{m}" for m in remainder.methods}
    kept = {k: v for k, v in peft.state_dict().items() if any(kind in k for kind in kinds)}
    return kept | {k: p.detach() for k, p in peft.head_parameters()}


def write_merged(out: Path, ref: nn.Module, peft, backbone: str, info) -> list[str]:
    """Write the merged model (and the native remainder); returns message lines."""
    from dataclasses import replace

    from autopeft.backbones import load_task_model
    from autopeft.export.fingerprint import config_hash, weights_hash
    from autopeft.export.native import write_native
    from autopeft.methods.attach import hf_config

    folded, remainder = split_candidate(peft.candidate)
    ref_config = hf_config(ref)
    problem = ref_config.problem_type or "single_label_classification"
    model = load_task_model(backbone, ref_config.num_labels or 2, problem)  # 2: transformers' default
    model.load_state_dict(merged_state(ref, folded), strict=True)
    model.config.id2label = dict(enumerate(info.id2label)) if info.id2label else model.config.id2label
    model.config.label2id = {v: k for k, v in model.config.id2label.items()}
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(str(out))
    lines = [f"merged: folded {', '.join(folded) or 'nothing'} into {out}"]
    if remainder is not None:
        tensors = remainder_tensors(peft, remainder)
        rest = replace(info, candidate=remainder, backbone=".", config_hash=config_hash(model.config),
                       weights_hash=weights_hash(model, exclude=tensors), counts=None)
        write_native(out, rest, tensors)
        lines.append(
            f"merged: could not fold {', '.join(remainder.methods)} (none is a change of one linear weight); "
            f"kept as a native export in {out}: autopeft.export.native.load_pretrained('{out}')"
        )
    lines.append(verify_merged(out, ref, remainder is not None))
    return lines


def verify_merged(out: Path, ref: nn.Module, has_remainder: bool) -> str:
    """Reload the merged model (and remainder) from `out` and compare its logits with ours."""
    from autopeft.backbones import load_task_model
    from autopeft.errors import UserError
    from autopeft.export.native import load
    from autopeft.export.probe import TOLERANCE, logits_of, max_difference, probe_inputs
    from autopeft.methods.attach import hf_config

    ref_config = hf_config(ref)
    problem = ref_config.problem_type or "single_label_classification"
    model = load_task_model(str(out), ref_config.num_labels or 2, problem)
    if has_remainder:
        load(model, out)
    inputs = probe_inputs(ref)
    diff = max_difference(logits_of(ref, inputs), logits_of(model, inputs))
    if diff > TOLERANCE:
        raise UserError(f"the merged model's logits differ from the candidate's by {diff:.2e}; not exported")
    return f"merged: reloaded from {out}, logits match (max rel. diff {diff:.1e})"
