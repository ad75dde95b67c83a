"""A candidate's training paused at a step, so a multi-fidelity search can continue it later.

What an uninterrupted run carries from one step to the next, and nothing else: the trainable
tensors (PEFT modules and head, by their names in the model), AdamW's per-parameter state, the
torch RNG (dropout) and the step reached in a schedule planned for `planned` steps. The batches
are not stored: they are a function of the seed, so the trainer draws and skips the first `step`.
Restored into a model and optimizer built the same way, training on gives the same weights as a
run that never stopped (tests/evaluators/test_checkpoint.py).

Stored as safetensors bytes (plain data a Ray job can carry, and never pickle), with the scalars
in its metadata.
"""

from __future__ import annotations

import json

import torch
from safetensors.torch import load, save
from torch import nn

FORMAT = "autopeft-train-checkpoint-1"


class CheckpointMismatch(ValueError):
    """The checkpoint was taken from another candidate, schedule or optimizer."""


def trainable(model: nn.Module) -> dict[str, nn.Parameter]:
    """The parameters that train, by name (the PEFT modules and the head)."""
    return {n: p for n, p in model.named_parameters() if p.requires_grad}


def capture(model: nn.Module, optimizer: torch.optim.Optimizer, step: int, planned: int) -> bytes:
    """The training state after `step` optimizer steps of a `planned`-step schedule."""
    tensors = {f"param/{n}": p.detach().cpu().clone() for n, p in trainable(model).items()}
    for index, state in optimizer.state_dict()["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{index}/{key}"] = value.detach().cpu().clone()
    tensors["rng/torch"] = torch.get_rng_state()
    meta = {"format": FORMAT, "step": str(step), "planned": str(planned),
            "params": json.dumps(sorted(trainable(model)))}
    return save(tensors, metadata=meta)


def restore(blob: bytes, model: nn.Module, optimizer: torch.optim.Optimizer, planned: int) -> int:
    """Load `blob` into `model` and `optimizer` (built as for the run that took it); returns its step."""
    meta = metadata(blob)
    if meta.get("format") != FORMAT:
        raise CheckpointMismatch(f"not a training checkpoint (format {meta.get('format')!r})")
    if int(meta["planned"]) != planned:
        raise CheckpointMismatch(f"the checkpoint continues a {meta['planned']}-step schedule, not {planned}")
    params = trainable(model)
    if json.loads(meta["params"]) != sorted(params):
        raise CheckpointMismatch("the checkpoint trained other parameters (another candidate or head)")
    tensors = load(blob)
    with torch.no_grad():
        for name, p in params.items():
            saved = tensors[f"param/{name}"]
            if saved.shape != p.shape:
                raise CheckpointMismatch(f"{name} is {tuple(saved.shape)} in the checkpoint, {tuple(p.shape)} here")
            p.copy_(saved.to(p.device, p.dtype))
    fresh = optimizer.state_dict()
    state: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, index, field = key.split("/", 2)
            state.setdefault(int(index), {})[field] = value
    optimizer.load_state_dict({"state": state, "param_groups": fresh["param_groups"]})
    torch.set_rng_state(tensors["rng/torch"])
    return int(meta["step"])


def step_of(blob: bytes) -> int:
    """The step a checkpoint was taken at."""
    return int(metadata(blob)["step"])


def metadata(blob: bytes) -> dict[str, str]:
    """The metadata of safetensors bytes (its format: an 8-byte little-endian length, then a JSON
    header; safetensors' own reader of metadata only opens files)."""
    try:
        size = int.from_bytes(blob[:8], "little")
        header = json.loads(blob[8 : 8 + size])
    except (ValueError, UnicodeDecodeError):
        raise CheckpointMismatch("not a training checkpoint (unreadable header)") from None
    return dict(header.get("__metadata__") or {})
