"""Export to HF peft: LoRA (per-module ranks, with BitFit as bias='lora_only') or (IA)3.

What peft can express is decided from the candidate first (`peft_blockers`); the export is then
built with peft itself (get_peft_model, our tensors copied in, save_pretrained), reloaded with
`PeftModel.from_pretrained`, and checked module by module and on logits."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import torch
from torch import nn

from autopeft.errors import UserError

METHOD_NAMES = {"lora": "LoRA", "ia3": "(IA)3", "prefix": "prefix tuning", "prompt": "prompt tuning"}


def peft_blockers(candidate) -> list[str]:
    """Why peft cannot express `candidate` (empty when it can), one phrase per part."""
    methods = set(candidate.methods)
    glob = candidate.globals
    reasons = []
    for method, what in (("serial_adapter", "serial adapters"), ("parallel_adapter", "parallel adapters")):
        if method in methods:
            reasons.append(f"{what} (bottleneck adapters do not exist in peft)")
    tuners = sorted(methods & set(METHOD_NAMES))
    if len(tuners) > 1:
        names = " + ".join(METHOD_NAMES[m] for m in tuners)
        reasons.append(f"the mix {names} (peft cannot save several adapter types in one model)")
    if "bitfit" in methods and not _bitfit_is_lora_only(candidate):
        reasons.append("BitFit beyond the LoRA-targeted projections' biases (peft has only bias='lora_only')")
    if glob.get("lora", {}).get("gate"):
        reasons.append("LoRA gates (UniPELT's learned gate has no peft equivalent)")
    if "prefix" in methods:
        lengths = [layer.get("prefix", {}).get("length", 0) for layer in candidate.layers]
        if len(set(lengths)) > 1:
            reasons.append(f"per-layer prefix lengths {lengths} (peft has one num_virtual_tokens for all layers)")
        if glob["prefix"].get("gate"):
            reasons.append("the prefix gate (UniPELT's learned gate has no peft equivalent)")
        # checked with peft 0.21.2 on BERT: the text's logits match ours only with position ids shifted
        reasons.append(
            "prefix tuning (peft passes the prefix as past_key_values, so BERT-style embeddings shift the "
            "text's position ids by the prefix length and peft drops explicit position_ids; ours keeps them)"
        )
    if "prompt" in methods:
        reasons.append(
            "prompt tokens (peft prepends them to the input embeddings, where they get position embeddings "
            "and shift the text's positions; ours enter after the embedding layer)"
        )
    if not tuners and not reasons:
        reasons.append("BitFit alone (peft has no BitFit method)")
    return reasons


def _bitfit_is_lora_only(candidate) -> bool:
    """Whether BitFit trains exactly the biases of the LoRA-targeted projections."""
    for layer in candidate.layers:
        bits = set(layer.get("bitfit", {}))
        if bits and bits != set(layer.get("lora", {})):
            return False
        if layer.get("lora") and "bitfit" in candidate.methods and not bits:
            return False
    return "lora" in candidate.methods


def _modules_with(model: nn.Module, attr: str) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if hasattr(m, attr)}


def head_modules(peft) -> list[str]:
    """Top-level module names holding the task head (peft's `modules_to_save`)."""
    return sorted({name.split(".")[0] for name, _ in peft.head_parameters()})


def build_config(ref: nn.Module, peft, backbone_path: str) -> Any:
    """The peft config for an attached candidate that peft can express."""
    import peft as hf

    candidate = peft.candidate
    methods = set(candidate.methods)
    common = dict(task_type="SEQ_CLS", base_model_name_or_path=backbone_path)
    common["modules_to_save"] = head_modules(peft)
    if "lora" in methods:
        loras = {n: m.autopeft_lora for n, m in _modules_with(ref, "autopeft_lora").items()}
        ratio = float(candidate.globals["lora"]["alpha_ratio"])
        rank = Counter(m.rank for m in loras.values()).most_common(1)[0][0]
        # one fully qualified key per module: partial keys can match several modules or none
        return hf.LoraConfig(
            r=rank, lora_alpha=_num(ratio * rank), target_modules=sorted(loras),
            rank_pattern={n: m.rank for n, m in loras.items()},
            alpha_pattern={n: _num(ratio * m.rank) for n, m in loras.items()},
            lora_dropout=float(candidate.globals["lora"].get("dropout", 0.0)),
            bias="lora_only" if "bitfit" in methods else "none", **common,
        )
    if "ia3" in methods:
        outputs = sorted(_modules_with(ref, "autopeft_ia3"))
        ffn = sorted(_modules_with(ref, "autopeft_ia3_ffn"))
        return hf.IA3Config(target_modules=outputs + ffn, feedforward_modules=ffn, **common)
    raise UserError(f"no peft method for {candidate.describe()}")


def _num(x: float) -> int | float:
    return int(x) if float(x).is_integer() else float(x)


@torch.no_grad()
def copy_into(peft_model: nn.Module, ref: nn.Module, peft) -> None:
    """Copy our trained tensors into the matching peft modules (adapter name `default`)."""
    inner = peft_model.base_model.model
    for name, owner in _modules_with(ref, "autopeft_lora").items():
        target = inner.get_submodule(name)
        target.lora_A["default"].weight.copy_(owner.autopeft_lora.A.weight)
        target.lora_B["default"].weight.copy_(owner.autopeft_lora.B.weight)
        if "bitfit" in peft.candidate.methods:
            target.base_layer.bias.copy_(owner.bias)
    for name, owner in _modules_with(ref, "autopeft_ia3").items():
        inner.get_submodule(name).ia3_l["default"].copy_(owner.autopeft_ia3.l.view(-1, 1))
    for name, owner in _modules_with(ref, "autopeft_ia3_ffn").items():
        inner.get_submodule(name).ia3_l["default"].copy_(owner.autopeft_ia3_ffn.l.view(1, -1))
    params = dict(peft_model.named_parameters())
    for name, value in peft.head_parameters():
        top, rest = name.split(".", 1)
        key = next(k for k in params if k.endswith(f"{top}.modules_to_save.default.{rest}"))
        params[key].copy_(value)


def check_modules(reloaded: nn.Module, ref: nn.Module, peft) -> list[str]:
    """Every module peft built has the intended rank/scaling/kind, and no other module was touched."""
    from peft.tuners.ia3 import IA3Layer
    from peft.tuners.lora import LoraLayer

    problems = []
    inner = reloaded.base_model.model
    built = {n: m for n, m in inner.named_modules() if isinstance(m, LoraLayer)}
    wanted = {n: m.autopeft_lora for n, m in _modules_with(ref, "autopeft_lora").items()}
    if set(built) != set(wanted):
        problems.append(f"LoRA on {sorted(set(built) ^ set(wanted))[:3]} differs from the candidate")
    for name, lora in wanted.items():
        m = built.get(name)
        if m is not None and (m.r["default"] != lora.rank or abs(m.scaling["default"] - lora.scaling) > 1e-9):
            problems.append(f"{name}: rank {m.r['default']} scaling {m.scaling['default']}, "
                            f"wanted rank {lora.rank} scaling {lora.scaling}")
    ia3 = {n: m for n, m in inner.named_modules() if isinstance(m, IA3Layer)}
    want_ff = {n: True for n in _modules_with(ref, "autopeft_ia3_ffn")} | {
        n: False for n in _modules_with(ref, "autopeft_ia3")}
    if {n: m.is_feedforward for n, m in ia3.items()} != want_ff:
        problems.append("(IA)3 modules or their feedforward flags differ from the candidate")
    return problems


def write_peft(out: Path, ref: nn.Module, peft, backbone: str, num_labels: int, problem_type: str) -> str:
    """Write and verify a peft export; returns a one-line summary. Raises UserError when it fails."""
    import warnings

    from peft import PeftModel, get_peft_model

    from autopeft.backbones import load_task_model, resolve_model_path
    from autopeft.export.probe import TOLERANCE, logits_of, max_difference, probe_inputs

    config = build_config(ref, peft, resolve_model_path(backbone))
    base = load_task_model(backbone, num_labels, problem_type)
    peft_model = get_peft_model(base, config)
    copy_into(peft_model, ref, peft)
    peft_model.save_pretrained(str(out), safe_serialization=True)
    fresh = load_task_model(backbone, num_labels, problem_type)
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
