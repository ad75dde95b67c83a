"""Put saved PEFT + head tensors back onto a task model: attach the candidate, then copy the tensors."""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from autopeft.errors import UserError


def attach_tensors(model: nn.Module, candidate, tensors: Mapping[str, torch.Tensor], source: str = "export"):
    """Attach `candidate` to `model` and load `tensors` into it; every name and shape must match."""
    from autopeft.methods.attach import apply

    peft = apply(model, candidate)
    try:
        peft.fold()  # saved prefixes are folded: the reparam MLP is not in the file
        params = dict(model.named_parameters())
        expected = set(peft.state_dict())
        missing = sorted(expected - set(tensors))
        extra = sorted(set(tensors) - expected)
        if missing or extra:
            what = f"missing {missing[:3]}" if missing else f"unexpected {extra[:3]}"
            raise UserError(f"{source} does not fit its candidate on this model ({what}); export it again")
        with torch.no_grad():
            for name, value in tensors.items():
                target = params[name]
                if tuple(target.shape) != tuple(value.shape):
                    raise UserError(
                        f"{source}: {name} has shape {tuple(value.shape)} but the model expects "
                        f"{tuple(target.shape)}; load it onto the exported backbone with its num_labels"
                    )
                target.copy_(value.to(target.dtype))
    except Exception:
        peft.detach()
        raise
    return peft
