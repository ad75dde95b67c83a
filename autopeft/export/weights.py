"""Trained trial weights: one safetensors file per kept trial, self-describing through its metadata.

The convention (used by `autopeft search --keep-weights` and read by `autopeft export`):

* file: `RUN_DIR/weights/trial-<N>.safetensors`;
* tensors: `AttachedPeft.state_dict()` after `fold()`: the PEFT tensors and the task head, by
  their names in the task model (e.g. `bert.encoder.layer.0.attention.self.query.autopeft_lora.A.weight`,
  `classifier.weight`), each stored contiguous and without shared storage;
* metadata (safetensors allows str -> str only): `format` = `autopeft.trial_weights`,
  `format_version`, `candidate` (canonical JSON), `backbone` (the `--model` id or path),
  `config_hash` and `weights_hash` (export/fingerprint.py), `task`, `id2label` (JSON list of label
  names; `[]` for regression), `problem_type`, `num_labels`, and `extra` (JSON of any other meta).

No pickle is written or read: safetensors only."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from autopeft.errors import UserError
from autopeft.export.fingerprint import config_hash, weights_hash

FORMAT = "autopeft.trial_weights"
FORMAT_VERSION = 1
_CORE = ("backbone", "task", "id2label", "problem_type")


@dataclass
class TrialWeights:
    """A kept trial's tensors and what they were trained as."""

    tensors: dict[str, torch.Tensor]
    candidate: Any  # autopeft.methods.candidate.Candidate
    backbone: str
    config_hash: str
    weights_hash: str
    task: str
    id2label: list[str]
    problem_type: str
    num_labels: int
    extra: dict[str, Any] = field(default_factory=dict)


def save_trial_weights(path: str | Path, attached_peft: Any, meta: dict[str, Any]) -> Path:
    """Write a trained candidate's PEFT + head tensors and `meta` to one safetensors file.

    `meta` needs `backbone` (model id or path) and `task`; `id2label` (list of names, or a dict
    index -> name) and `problem_type` default to the model config's. Other keys go to `extra`.
    Folds training-only reparameterisations (the prefix MLP) first: call it after training."""
    attached_peft.fold()
    state = attached_peft.state_dict()
    return write_trial_weights(path, state, trial_metadata(attached_peft.model, attached_peft.candidate, state, meta))


def trial_metadata(model: Any, candidate: Any, state: dict[str, torch.Tensor], meta: dict[str, Any]) -> dict[str, str]:
    """The metadata of a trial weight file, for a worker that has the model and a folded state dict."""
    id2label = _labels(meta.get("id2label", getattr(model.config, "id2label", None)))
    problem = meta.get("problem_type") or getattr(model.config, "problem_type", None)
    problem = problem or "single_label_classification"
    missing = [k for k in ("backbone", "task") if not meta.get(k)]
    if missing:
        raise ValueError(f"trial weights: meta needs {', '.join(missing)}")
    return {
        "format": FORMAT,
        "format_version": str(FORMAT_VERSION),
        "candidate": candidate.to_json(),
        "backbone": str(meta["backbone"]),
        "config_hash": config_hash(model.config),
        "weights_hash": weights_hash(model, exclude=state),
        "task": str(meta["task"]),
        "id2label": json.dumps(id2label),
        "problem_type": problem,
        "num_labels": str(model.config.num_labels),
        "extra": json.dumps({k: v for k, v in meta.items() if k not in _CORE}, default=str, sort_keys=True),
    }


def write_trial_weights(path: str | Path, state: dict[str, torch.Tensor], metadata: dict[str, str]) -> Path:
    """Write tensors (contiguous, unshared copies) and metadata atomically."""
    from safetensors.torch import save_file

    tensors = {name: t.detach().to("cpu").clone().contiguous() for name, t in state.items()}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file(tensors, str(tmp), metadata=metadata)
    tmp.replace(path)  # never leave a half-written file under the final name
    return path


def load_trial_weights(path: str | Path) -> TrialWeights:
    """Read a trial weight file; a missing, corrupted or too-new file is a one-line UserError."""
    from autopeft.methods.candidate import Candidate

    tensors, metadata = read_safetensors(path)
    if metadata.get("format") != FORMAT:
        raise UserError(f"{path} is not an autopeft trial weight file (format {metadata.get('format')!r})")
    check_version(metadata.get("format_version"), FORMAT_VERSION, str(path))
    try:
        return TrialWeights(
            tensors=tensors,
            candidate=Candidate.from_json(metadata["candidate"]),
            backbone=metadata["backbone"],
            config_hash=metadata["config_hash"],
            weights_hash=metadata["weights_hash"],
            task=metadata["task"],
            id2label=json.loads(metadata["id2label"]),
            problem_type=metadata["problem_type"],
            num_labels=int(metadata["num_labels"]),
            extra=json.loads(metadata.get("extra") or "{}"),
        )
    except (KeyError, ValueError) as exc:
        raise UserError(f"{path} has incomplete autopeft metadata ({exc}); re-run the search") from None


def read_safetensors(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """Tensors and metadata of a safetensors file, with one clear line for a missing or corrupt file."""
    from safetensors import safe_open

    path = Path(path)
    if not path.is_file():
        raise UserError(f"weight file {path} not found; export again, or re-run with --keep-weights")
    try:
        with safe_open(str(path), framework="pt") as f:
            metadata = dict(f.metadata() or {})
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except Exception as exc:  # safetensors raises SafetensorError and others for damaged headers/data
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        msg = f"weight file {path} is corrupted or not safetensors ({reason}); write it again"
        raise UserError(msg) from None
    return tensors, metadata


def check_version(found: Any, supported: int, what: str) -> None:
    """Raise a clear error for a format version this autopeft does not understand."""
    try:
        version = int(found)
    except (TypeError, ValueError):
        raise UserError(f"{what} has no valid format_version ({found!r})") from None
    if version > supported:
        raise UserError(
            f"{what} has format version {version}, newer than this autopeft understands ({supported}); "
            "upgrade autopeft"
        )


def _labels(id2label: Any) -> list[str]:
    """Label names in index order from a list or a {index: name} mapping; [] when unknown."""
    if not id2label:
        return []
    if isinstance(id2label, dict):
        return [str(id2label[k]) for k in sorted(id2label, key=int)]
    return [str(x) for x in id2label]
