"""Export to HF peft: the one method of a candidate with a `peft_type` (LoRA with per-module ranks,
BitFit beside it as bias='lora_only'; (IA)3), each method's `export.py` saying how.

What peft can express is decided from the candidate first (`peft_blockers`); the export is then
built with peft itself (get_peft_model, our tensors copied in, save_pretrained), reloaded with
`PeftModel.from_pretrained`, and checked module by module and on logits."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from autopeft.errors import UserError
from autopeft.methods.registry import ATTACH_ORDER, METHODS, export_module

if TYPE_CHECKING:
    from peft import PeftModel


def peft_tuners(candidate) -> list[str]:
    """The methods of `candidate` that export as a peft tuner of their own (their spec's `peft_type`)."""
    return [m for m in ATTACH_ORDER if m in candidate.methods and METHODS[m].peft_type]


def peft_blockers(candidate) -> list[str]:
    """Why peft cannot express `candidate` (empty when it can), one phrase per part: each method's
    own reasons (`MethodSpec.peft_blockers`; a method without a `peft_type` has one), then the mix."""
    reasons = [r for m in ATTACH_ORDER if m in candidate.methods for r in METHODS[m].peft_blockers(candidate)]
    tuners = peft_tuners(candidate)
    if len(tuners) > 1:
        names = " + ".join(METHODS[m].label for m in tuners)
        reasons.append(f"the mix {names} (peft cannot save several adapter types in one model)")
    return reasons


def head_modules(peft) -> list[str]:
    """Top-level module names holding the task head (peft's `modules_to_save`)."""
    return sorted({name.split(".")[0] for name, _ in peft.head_parameters()})


def build_config(ref: nn.Module, peft, backbone_path: str) -> Any:
    """The peft config for an attached candidate that peft can express (its tuner's `export.py`)."""
    import peft as hf

    tuners = peft_tuners(peft.candidate)
    if len(tuners) != 1:
        raise UserError(f"no peft method for {peft.candidate.describe()}")
    common = dict(task_type="SEQ_CLS", base_model_name_or_path=backbone_path, modules_to_save=head_modules(peft))
    return export_module(tuners[0]).peft_config(hf, ref, peft, common)


@torch.no_grad()
def copy_into(peft_model: PeftModel, ref: nn.Module, peft) -> None:
    """Copy our trained tensors into the matching peft modules (adapter name `default`)."""
    inner = peft_model.get_base_model()
    for method in peft_tuners(peft.candidate):
        export_module(method).peft_copy(inner, ref, peft)
    params = dict(peft_model.named_parameters())
    for name, value in peft.head_parameters():
        top, rest = name.split(".", 1)
        key = next(k for k in params if k.endswith(f"{top}.modules_to_save.default.{rest}"))
        params[key].copy_(value)


def check_modules(reloaded: PeftModel, ref: nn.Module, peft) -> list[str]:
    """Every module peft built has the intended rank/scaling/kind, and no other module was touched:
    every method with a peft export checks its own kind of layer, used by the candidate or not."""
    inner = reloaded.get_base_model()
    return [p for m in ATTACH_ORDER if METHODS[m].peft_type for p in export_module(m).peft_check(inner, ref)]


def write_peft(out: Path, ref: nn.Module, peft, backbone: str, num_labels: int, problem_type: str,
               quantize: str | None = None) -> str:
    """Write and verify a peft export (built and reloaded on a `quantize`d backbone when asked, as
    `ref` is); returns a one-line summary. Raises UserError when it fails."""
    import warnings

    from peft import PeftModel, get_peft_model

    from autopeft.backbones import load_task_model, resolve_model_path
    from autopeft.export.probe import TOLERANCE, logits_of, max_difference, probe_inputs

    config = build_config(ref, peft, resolve_model_path(backbone))
    base = load_task_model(backbone, num_labels, problem_type, quantize=quantize)
    peft_model = get_peft_model(base, config)
    if not isinstance(peft_model, PeftModel):  # only a mixed config gives peft's PeftMixedModel
        raise RuntimeError(f"peft built a {type(peft_model).__name__} for a plain {type(config).__name__}")
    copy_into(peft_model, ref, peft)
    peft_model.save_pretrained(str(out), safe_serialization=True)
    fresh = load_task_model(backbone, num_labels, problem_type, quantize=quantize)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reloaded = PeftModel.from_pretrained(fresh, str(out))
    problems = check_modules(reloaded, ref, peft)
    problems += [f"peft warned: {w.message}" for w in caught if "pattern" in str(w.message)]
    inputs = probe_inputs(ref)
    diff = max_difference(logits_of(ref, inputs), logits_of(reloaded, inputs))
    if diff > TOLERANCE:
        problems.append(f"logits differ by {diff:.2e} (relative)")
    if problems:
        raise UserError("the peft export does not reproduce the candidate: " + "; ".join(problems))
    return f"peft {config.peft_type.value if hasattr(config.peft_type, 'value') else config.peft_type}: " \
           f"reloaded with PeftModel.from_pretrained, logits match (max rel. diff {diff:.1e})"
