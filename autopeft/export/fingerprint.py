"""A backbone's identity: a hash of its architecture config and one of its weights.

Both are computed from the model in memory, so a user's own `from_pretrained` model can be
checked against an export. Tensors that a candidate trains (BitFit biases, autopeft_* modules)
are left out of the weights hash: they differ between a fresh backbone and a trained one."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

from autopeft.methods.attach import base_model

# Config keys that describe the task, training or runtime, not the backbone's architecture.
_TASK_KEYS = frozenset({
    "id2label", "label2id", "num_labels", "problem_type", "finetuning_task", "architectures",
    "_name_or_path", "name_or_path", "transformers_version", "torch_dtype", "dtype", "return_dict",
    "output_hidden_states", "output_attentions", "use_cache", "pad_token_id", "tie_word_embeddings",
})


def config_hash(config: Any) -> str:
    """SHA-256 (16 hex digits) of the architecture part of a config (object or dict)."""
    data = config.to_dict() if hasattr(config, "to_dict") else dict(config)
    kept = {
        k: v for k, v in data.items()
        if k not in _TASK_KEYS and not k.startswith("_") and "dropout" not in k and not isinstance(v, dict)
    }
    text = json.dumps(kept, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def weights_hash(model: nn.Module, exclude: Iterable[str] = ()) -> str:
    """SHA-256 (16 hex digits) of the backbone's tensors (`model.base_model`), by name, dtype and bytes."""
    backbone = base_model(model)
    prefix = _prefix_of(model, backbone)
    skip = {n[len(prefix):] if n.startswith(prefix) else n for n in exclude}
    digest = hashlib.sha256()
    for name, tensor in sorted(backbone.state_dict().items()):
        if name in skip or "autopeft_" in name:
            continue
        t = tensor.detach().cpu().contiguous()
        digest.update(f"{name}|{t.dtype}|{tuple(t.shape)}\n".encode())
        digest.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return digest.hexdigest()[:16]


def _prefix_of(model: nn.Module, backbone: nn.Module) -> str:
    """The backbone's name inside the task model plus a dot (e.g. `bert.`), or '' if it is the model."""
    for name, module in model.named_modules():
        if module is backbone:
            return f"{name}." if name else ""
    return ""
