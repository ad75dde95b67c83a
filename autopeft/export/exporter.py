"""`autopeft export`: pick a trial of a run, restore its trained weights, write the chosen format."""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopeft.errors import UserError
from autopeft.export import rundir
from autopeft.export.native import ExportInfo, write_native

FORMATS = ("native", "peft", "adapters")
EXPORT_INFO = "autopeft_export.json"  # the provenance written beside non-native formats


@dataclass
class Request:
    """What to export and where."""

    run_dir: Path
    out: Path
    fmt: str = "native"
    trial: str | None = None
    best: bool = False
    budget: str | None = None
    knee: bool = False
    merged: bool = False
    quantize: str | None = None  # export onto a 4bit/8bit backbone (checked there); None: full precision


def select(run: rundir.RunDir, req: Request) -> tuple[dict[str, str], str, list[str]]:
    """The chosen trials.csv row, how it was chosen, and lines to print about the choice."""
    row, how, budget = _select(run, req)
    if req.fmt == "peft":
        from autopeft.export.peft_choice import choose

        return choose(run, row, how, req.trial, req.knee, budget)
    return row, how, []


def _select(run: rundir.RunDir, req: Request) -> tuple[dict[str, str], str, int | None]:
    if sum((req.trial is not None, req.best, req.knee)) != 1:
        raise UserError("choose exactly one of --trial N, --best [--budget B] or --knee")
    if req.budget is not None and not req.best:
        raise UserError("--budget applies to --best only")
    if req.trial is not None:
        return rundir.find_trial(run, req.trial), f"trial {req.trial}", None
    if req.knee:
        return rundir.knee(run), "the front's knee", None
    budget = None
    if req.budget is not None:
        from autopeft.backbones import load_config
        from autopeft.methods.anatomy import dims_from_config, resolve
        from autopeft.space.budget import parse_budget

        config = load_config(run.model)
        budget = parse_budget(req.budget, dims_from_config(config, resolve(config)).backbone_params)
    return rundir.best(run, budget), "the best score" + (f" within {req.budget}" if budget else ""), budget


def export(req: Request) -> list[str]:
    """Run one export; returns the lines to print. It is written aside and moved into place when
    complete (export/staging.py), so a kill leaves no half-written export."""
    from autopeft.export.staging import staged

    with staged(req.out) as stage:
        lines = _export(dataclasses.replace(req, out=stage))
    return [line.replace(str(stage), str(req.out)) for line in lines]


def _export(req: Request) -> list[str]:
    from autopeft.evaluators.quantize import parse_quantize, require_bitsandbytes
    from autopeft.methods.candidate import Candidate

    if req.fmt not in FORMATS:
        raise UserError(f"unknown format {req.fmt!r}; choose one of {', '.join(FORMATS)}")
    req.quantize = parse_quantize(req.quantize)
    if req.quantize:
        require_bitsandbytes(req.quantize)
        if req.merged or req.fmt == "adapters":
            what = "--merged folds into" if req.merged else "--format adapters checks against"
            raise UserError(f"{what} the full-precision backbone; leave out --quantize (the export itself does "
                            "not depend on the backbone's precision)")
    run = rundir.read_run(req.run_dir)
    row, how, notes = select(run, req)
    trial = str(row["trial"])
    candidate = Candidate.from_json(row["candidate"])
    source: dict[str, Any] = {"run_dir": str(run.path.resolve()), "trial": trial, "selected_by": how,
                              "metric": row.get("metric"), "score": _float(row.get("score")),
                              "test_score": _float(row.get("test_score"))}
    counts = {k: _float(row.get(k)) for k in ("peft_params", "peft_pct", "head_params")}
    lines = [*notes, f"trial {trial} ({how}): {candidate.describe()}"]
    weights_file = run.weights_path(trial)
    if not weights_file.exists() and req.fmt == "peft":
        raise UserError(f"trial {trial} has no kept weights ({weights_file} is absent; see --keep-weights), so "
                        "there is no trained adapter to write for peft; export --format native writes its "
                        "configuration to train")
    if not weights_file.exists():
        return lines + _without_weights(req, run, candidate, source, counts, weights_file)
    from autopeft.export.weights import load_trial_weights

    tw = load_trial_weights(weights_file)
    if tw.candidate != candidate:
        raise UserError(f"{weights_file} holds another candidate than trial {trial} of trials.csv; re-run the trial")
    info = ExportInfo(candidate=candidate, backbone=tw.backbone, config_hash=tw.config_hash,
                      weights_hash=tw.weights_hash, task=tw.task, id2label=tw.id2label,
                      problem_type=tw.problem_type, num_labels=tw.num_labels, space=run.run.get("space"),
                      source=source, counts=counts)
    trained_on = parse_quantize(tw.extra.get("quantize"))
    ref, peft = restore_reference(tw, req.quantize)
    if trained_on != req.quantize:  # the export is the same tensors; what changes is the backbone under them
        from autopeft.export.probe import precision_gap

        gap = precision_gap(ref, tw, trained_on)
        source["precision"] = {"trained_on": trained_on or "fp32", "exported_for": req.quantize or "fp32",
                               "max_rel_logit_diff": gap}
        lines.append(f"trained on a {trained_on or 'fp32'} backbone, exported onto {req.quantize or 'fp32'}: the "
                     f"logits there differ from the {trained_on or 'fp32'} backbone's by {gap:.1e} (max rel., "
                     "probe inputs)")
    lines += write_format(req, ref, peft, info, tw.tensors)
    if req.merged:
        from autopeft.export.merged import write_merged

        lines += write_merged(req.out / "merged", ref, peft, tw.backbone, info)
    return lines


def restore_reference(tw, quantize: str | None = None) -> tuple[Any, Any]:
    """Our own model with the trial's weights: the reference every export is checked against (on a
    `quantize`d backbone when asked, whose weights cannot be hashed against the full-precision ones:
    its config is checked)."""
    from autopeft.backbones import load_task_model
    from autopeft.export.fingerprint import config_hash, weights_hash
    from autopeft.export.restore import attach_tensors

    model = load_task_model(tw.backbone, tw.num_labels, tw.problem_type, quantize=quantize)
    model.eval()
    same_weights = quantize is not None or weights_hash(model, exclude=tw.tensors) == tw.weights_hash
    if config_hash(model.config) != tw.config_hash or not same_weights:
        raise UserError(
            f"backbone {tw.backbone!r} is not the one the trial was trained on (its config or weights changed "
            "since the search); point the run at the original backbone"
        )
    return model, attach_tensors(model, tw.candidate, tw.tensors, source="the trial's weights")


def write_format(req: Request, ref, peft, info: ExportInfo, tensors: dict) -> list[str]:
    """Write `req.fmt`, falling back to native (and saying why) for what the format cannot express."""
    from autopeft.export.native import load_pretrained
    from autopeft.export.probe import TOLERANCE, logits_of, max_difference, probe_inputs

    lines = []
    if req.fmt == "peft":  # `select` chose a candidate peft can express, or refused
        from autopeft.export.peft_format import write_peft

        line = write_peft(req.out, ref, peft, info.backbone, info.num_labels, info.problem_type, req.quantize)
        _write_info(req.out, info, "peft")
        return [line, f"wrote {req.out} (adapter_config.json, adapter_model.safetensors)"]
    if req.fmt == "adapters":
        from autopeft.export.adapters_format import adapters_blockers, write_adapters

        blockers = adapters_blockers(info.candidate, peft)
        if not blockers:
            written = write_adapters(req.out, ref, peft, info)
            _write_info(req.out, info, "adapters")
            return [f"wrote {req.out} ({', '.join(p.name for p in written)}); check it in the adapters "
                    "environment: experiments/adapters_export/check.py"]
        lines.append("adapters cannot express " + "; ".join(blockers) + ": writing the native format instead")
    write_native(req.out, info, tensors)
    model = load_pretrained(req.out, quantize=req.quantize)
    inputs = probe_inputs(ref)
    diff = max_difference(logits_of(ref, inputs), logits_of(model, inputs))
    if diff > TOLERANCE:
        raise UserError(f"the native export's logits differ from the trial's by {diff:.2e}")
    onto = f" onto a {req.quantize} backbone" if req.quantize else ""
    lines.append(f"wrote {req.out} (autopeft_config.json, adapter.safetensors); reloaded with autopeft.load{onto}, "
                 f"logits match (max rel. diff {diff:.1e})")
    return lines


def _without_weights(req: Request, run, candidate, source, counts, weights_file: Path) -> list[str]:
    """No kept weights: write the configuration and say how to train it."""
    from transformers import AutoConfig

    from autopeft.backbones import resolve_model_path
    from autopeft.export.fingerprint import config_hash

    config = AutoConfig.from_pretrained(resolve_model_path(run.model))
    labels = run.run.get("id2label") or run.run.get("labels") or []
    info = ExportInfo(candidate=candidate, backbone=run.model, config_hash=config_hash(config), weights_hash=None,
                      task=run.task, id2label=list(labels.values()) if isinstance(labels, dict) else list(labels),
                      problem_type=run.run.get("problem_type") or "single_label_classification",
                      num_labels=len(labels) or 0, space=run.run.get("space"), source=source, counts=counts)
    write_native(req.out, info, None)
    return [
        f"no trained weights for trial {source['trial']} ({weights_file} is absent: the search kept none for it, "
        "see --keep-weights); wrote its configuration only",
        f"train it with: autopeft train {req.out / 'candidate.json'} --task {run.task or 'TASK'} --model {run.model}",
    ]


def _write_info(out: Path, info: ExportInfo, fmt: str) -> None:
    config = info.config(None) | {"export_format": fmt}
    config.pop("weights")
    (out / EXPORT_INFO).write_text(json.dumps(config, indent=2) + "\n")


def _float(value: Any) -> float | None:
    try:
        return float(value)
    except (TypeError, ValueError):
        return None
