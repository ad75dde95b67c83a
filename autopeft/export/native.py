"""The native export: `autopeft_config.json` + `adapter.safetensors`, and `autopeft.load` to attach it.

The config names the backbone (id, config hash, weights hash), the task and its labels, the
candidate and the space it came from; the tokenizer is the backbone's and is named, not copied.

`load` returns the model, as peft's `PeftModel.from_pretrained` does, so `autopeft.load(m, d).eval()`
reads as it would there; the attachment hangs off it as `model.autopeft` (an `AttachedPeft`:
candidate, counts, `detach()`), which `detach()` removes again."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopeft.errors import UserError
from autopeft.export.weights import check_version, read_safetensors

CONFIG_FILE = "autopeft_config.json"
WEIGHTS_FILE = "adapter.safetensors"
CANDIDATE_FILE = "candidate.json"
ATTACHMENT_ATTR = "autopeft"  # `load` puts the AttachedPeft on the model under this name
FORMAT = "autopeft"
FORMAT_VERSION = 1


@dataclass
class ExportInfo:
    """What every export format records about its origin (and what `load` checks)."""

    candidate: Any  # Candidate
    backbone: str
    config_hash: str
    weights_hash: str | None  # None when no trained weights were kept
    task: str | None
    id2label: list[str]
    problem_type: str
    num_labels: int
    space: Any = None
    source: dict[str, Any] | None = None
    counts: dict[str, Any] | None = None

    def config(self, weights: str | None) -> dict[str, Any]:
        """The `autopeft_config.json` content."""
        from autopeft import __version__

        return {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "autopeft_version": __version__,
            "backbone": {
                "id": self.backbone, "config_hash": self.config_hash, "weights_hash": self.weights_hash,
            },
            "tokenizer": self.backbone,
            "task": {"name": self.task, "problem_type": self.problem_type, "num_labels": self.num_labels,
                     "id2label": {str(i): name for i, name in enumerate(self.id2label)}},
            "candidate": self.candidate.to_dict(),
            "space": self.space,
            "counts": self.counts,
            "source": self.source,
            "weights": weights,
        }


def write_native(out: Path, info: ExportInfo, tensors: dict | None) -> list[Path]:
    """Write the native export (the config, the candidate, and the weights when there are any)."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    written = []
    if tensors:
        clean = {k: v.detach().cpu().clone().contiguous() for k, v in tensors.items()}
        meta = {"format": FORMAT, "format_version": str(FORMAT_VERSION)}
        save_file(clean, str(out / WEIGHTS_FILE), metadata=meta)
        written.append(out / WEIGHTS_FILE)
    config = info.config(WEIGHTS_FILE if tensors else None)
    (out / CONFIG_FILE).write_text(json.dumps(config, indent=2) + "\n")
    info.candidate.save(out / CANDIDATE_FILE)
    return [out / CONFIG_FILE, out / CANDIDATE_FILE, *written]


def read_config(directory: str | Path) -> dict[str, Any]:
    """Read and check `autopeft_config.json` (present, valid, not from a newer autopeft)."""
    path = Path(directory) / CONFIG_FILE
    if not path.is_file():
        raise UserError(f"{directory} has no {CONFIG_FILE}; pass a directory written by `autopeft export`")
    try:
        config = json.loads(path.read_text())
    except ValueError as exc:
        raise UserError(f"{path} is not valid JSON ({exc}); export it again") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise UserError(f"{path} is not an autopeft export config")
    check_version(config.get("format_version"), FORMAT_VERSION, str(path))
    return config


def load(model: Any, directory: str | Path):
    """Attach a native export to a transformers task model, after checking it is the same backbone.

    Returns `model` itself (for chaining, as with peft); its attachment is `model.autopeft`."""
    from autopeft.evaluators.quantize import is_quantized
    from autopeft.export.fingerprint import config_hash, weights_hash
    from autopeft.export.restore import attach_tensors
    from autopeft.methods.candidate import Candidate

    directory = Path(directory)
    held = getattr(model, ATTACHMENT_ATTR, None)
    if held is not None:
        raise UserError(f"this model already holds an autopeft export; call model.{ATTACHMENT_ATTR}.detach() "
                        f"before loading {directory}")
    config = read_config(directory)
    candidate = Candidate.from_json(config["candidate"])
    backbone = config.get("backbone") or {}
    task = config.get("task") or {}
    if not config.get("weights"):
        raise UserError(
            f"{directory} holds a configuration without trained weights; train it with "
            f"`autopeft train {directory / CANDIDATE_FILE} --task {task.get('name') or 'TASK'} "
            f"--model {backbone.get('id') or 'MODEL'}`"
        )
    if config_hash(model.config) != backbone.get("config_hash"):
        raise UserError(
            f"{directory} was exported for backbone {backbone.get('id')!r}, but this model's config differs "
            f"(model_type {getattr(model.config, 'model_type', '?')}); "
            "load that backbone"
        )
    exported = int(task.get("num_labels") or 0)
    if exported and exported != model.config.num_labels:
        names = [task.get("id2label", {})[k] for k in sorted(task.get("id2label") or {}, key=int)]
        raise UserError(
            f"{directory} was exported for {exported} labels ({', '.join(names) or 'unnamed'}), but this model's "
            f"head has {model.config.num_labels}; load the backbone with num_labels={exported}"
        )
    tensors, _ = read_safetensors(directory / config["weights"])
    # a quantized backbone's weights cannot be hashed against the full-precision ones the export
    # names; its config is checked above, and `autopeft export --quantize` measures the logits
    if not is_quantized(model) and weights_hash(model, exclude=tensors) != backbone.get("weights_hash"):
        raise UserError(
            f"{directory} was exported for backbone {backbone.get('id')!r}, but this model's weights differ "
            "(same architecture, another checkpoint); load that backbone's weights"
        )
    peft = attach_tensors(model, candidate, tensors, source=str(directory))
    setattr(model, ATTACHMENT_ATTR, peft)  # a plain attribute: not a submodule, not in state_dict
    peft.add_undo(lambda: delattr(model, ATTACHMENT_ATTR))
    labels = [task.get("id2label", {})[k] for k in sorted(task.get("id2label") or {}, key=int)]
    if labels and len(labels) == model.config.num_labels:
        model.config.id2label = dict(enumerate(labels))
        model.config.label2id = {name: i for i, name in enumerate(labels)}
    return model


def load_pretrained(directory: str | Path, model: str | None = None, dropout: float = 0.0,
                    quantize: str | None = None, device: str = "cpu"):
    """Build the exported backbone's task model (its linears `quantize`d to 4bit/8bit when asked) and
    attach the export; returns the model (see `load`)."""
    from autopeft.backbones import load_task_model

    config = read_config(directory)
    task = config.get("task") or {}
    backbone = model or (config.get("backbone") or {}).get("id")
    if not backbone:
        raise UserError(f"{directory} names no backbone; pass the model to load it onto")
    if backbone == ".":  # a merged export: the backbone is the directory itself
        backbone = str(Path(directory).resolve())
    problem = task.get("problem_type") or "single_label_classification"
    task_model = load_task_model(backbone, int(task.get("num_labels") or 2), problem, dropout, quantize, device)
    task_model.eval()
    return load(task_model, directory)
