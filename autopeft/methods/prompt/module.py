"""Prompt tokens (shallow and deep). A pre-hook on each prompted layer inserts its tokens into
the hidden states, or replaces the previous layer's prompt outputs when some are present; the
autopeft attention function widens the attention mask to match."""

from __future__ import annotations

import torch
from torch import nn

from autopeft.methods.common import Elastic, first_arg
from autopeft.methods.prefix.module import use_autopeft_attention
from autopeft.methods.prompt.spec import PromptGlobals


class PromptTokens(Elastic, nn.Module):
    """`length` learned vectors fed in at one layer's input."""

    SLICED_ROWS = ("tokens",)

    def __init__(self, length: int, hidden: int):
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(length, hidden) * 0.02)

    def full_size(self) -> int | None:
        return self.tokens.shape[0]


class _State:
    """How many prompt tokens the running forward pass carries (reset at the first layer)."""

    present = 0


def prepare(model, layers, anatomy, glob: PromptGlobals, peft, candidate) -> None:
    """Reset the per-forward state at layer 0 and tell every attention where prompts sit."""
    use_autopeft_attention(model, peft)
    state = _State()
    at = 1 if glob.position == "after_cls" else 0

    def reset(module, args, kwargs):
        state.present = 0

    peft.add_hook(layers[0].register_forward_pre_hook(reset, with_kwargs=True))
    for layer in layers:
        attention = layer.get_submodule(anatomy.attention)
        attention._autopeft_prompt_at = at
        peft.add_undo(lambda a=attention: delattr(a, "_autopeft_prompt_at"))
    model._autopeft_prompt_state = (state, at)
    peft.add_undo(lambda: delattr(model, "_autopeft_prompt_state"))


def elastic_modules(ctx, slot: str) -> list[nn.Module]:
    """The supernet's switchable module: the layer's tokens (the length global slices them)."""
    return [ctx.layer.autopeft_prompt]


def attach(ctx, options: dict[str, int], glob: PromptGlobals) -> None:
    """Fresh prompt tokens at this layer's input."""
    prompt = PromptTokens(glob.length, ctx.dims.hidden)
    ctx.peft.add_module("prompt", ctx.layer, "prompt", prompt)
    state, at = ctx.peft.model._autopeft_prompt_state

    def insert(module, args, kwargs):
        if prompt.is_off():
            return None
        hidden = first_arg(args, kwargs, "hidden_states")
        tokens = prompt.tokens if prompt.active is None else prompt.tokens[: prompt.active]
        tokens = tokens.to(hidden.dtype).unsqueeze(0).expand(hidden.shape[0], -1, -1)
        rest = hidden[:, at + state.present :]
        hidden = torch.cat([hidden[:, :at], tokens, rest], dim=1)
        state.present = tokens.shape[1]
        if args:
            return (hidden, *args[1:]), kwargs
        return args, dict(kwargs, hidden_states=hidden)

    ctx.peft.add_hook(ctx.layer.register_forward_pre_hook(insert, with_kwargs=True))
