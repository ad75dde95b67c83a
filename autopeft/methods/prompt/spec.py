"""Prompt tokens (Lester 2021; VPT; P-tuning v2): learned tokens inserted into the sequence.

A layer with `insert` gets fresh tokens at its input (replacing the previous layer's prompt
outputs); layer 0 alone is shallow prompting, every layer is VPT-deep."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field

from autopeft.methods.anatomy.dims import BackboneDims
from autopeft.methods.spec import MethodGlobals, MethodSpec


class PromptGlobals(MethodGlobals):
    length: int = Field(default=10, ge=1, description="tokens per prompted layer")
    position: Literal["after_cls", "before_cls"] = Field(
        default="after_cls", description="after [CLS] as in VPT; before it as in peft (needed for a peft export)"
    )


class PromptSpec(MethodSpec):
    name = "prompt"
    title = "prompt tokens"
    slots = ("insert",)
    flag = True
    # Inserting tokens shifts rotary positions in decoders: encoders and ViT only for now.
    kinds = frozenset({"encoder", "vision"})
    default_lr = 3e-2
    lr_source = "measured: experiments/train_speed/lr_sweep_gpu.csv (tweets, 3 seeds, best at 300 steps)"
    identity_at_init = False
    Globals = PromptGlobals
    attach_rank = 70
    label = "prompt"
    colour = "#56B4E9"

    def elastic_size(self, size: int, glob: dict[str, Any]) -> int | None:
        return PromptGlobals(**glob).length  # the slot is on/off; the length (a global) slices

    def peft_blockers(self, candidate: Any) -> list[str]:
        return ["prompt tokens (peft prepends them to the input embeddings, where they get position embeddings "
                "and shift the text's positions; ours enter after the embedding layer)"]

    def adapters_blockers(self, candidate: Any, dims: BackboneDims) -> list[str]:
        return ["prompt tokens (adapters' prompt tuning enters before the embeddings' LayerNorm)"]

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: PromptGlobals) -> int:
        return glob.length * dims.hidden if options.get("insert") else 0
