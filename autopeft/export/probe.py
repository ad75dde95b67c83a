"""Fixed probe inputs and logit comparison: how every export is checked against our own model."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from autopeft.methods.attach import hf_config

TOLERANCE = 1e-4  # relative to the logits' scale: float32 reorderings stay far below it


def probe_inputs(
    model: nn.Module, batch: int = 3, length: int = 12, seed: int = 0
) -> dict[str, torch.Tensor]:
    """A small seeded batch the model accepts: token ids with some padding, or images."""
    config = hf_config(model)
    gen = torch.Generator().manual_seed(seed)
    if hasattr(config, "image_size") and not hasattr(config, "vocab_size"):
        size, channels = config.image_size, getattr(config, "num_channels", 3)
        return {"pixel_values": torch.randn(batch, channels, size, size, generator=gen)}
    ids = torch.randint(5, config.vocab_size, (batch, length), generator=gen)
    mask = torch.ones(batch, length, dtype=torch.long)
    mask[-1, length // 2:] = 0  # one padded row: masks must be handled the same way
    return {"input_ids": ids, "attention_mask": mask}


@torch.no_grad()
def logits_of(model: Any, inputs: dict[str, torch.Tensor]) -> torch.Tensor:
    """The model's logits in eval mode (dropout off), as float32."""
    was_training = model.training
    model.eval()
    try:
        return model(**inputs).logits.float()
    finally:
        model.train(was_training)


def max_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest absolute difference, relative to the logits' scale (at least 1)."""
    scale = max(1.0, float(a.abs().max()))
    return float((a - b).abs().max()) / scale


def precision_gap(ref: nn.Module, tw: Any, quantize: str | None) -> float:
    """How far `ref`'s logits are from the same trial weights on the backbone at `quantize` (4bit,
    8bit or None: full precision): what moving an export between precisions changes."""
    from autopeft.backbones import load_task_model
    from autopeft.export.restore import attach_tensors

    other = load_task_model(tw.backbone, tw.num_labels, tw.problem_type, quantize=quantize)
    other.eval()
    peft = attach_tensors(other, tw.candidate, tw.tensors, source="the trial's weights")
    try:
        inputs = probe_inputs(ref)
        return max_difference(logits_of(other, inputs), logits_of(ref, inputs))
    finally:
        peft.detach()
