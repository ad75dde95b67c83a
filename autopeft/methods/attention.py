"""One attention function, registered with transformers' attention interface, that knows about
prefixes and inserted prompt tokens: it prepends a layer's prefix keys/values and widens the
mask for prompt tokens and prefixes. Every family in the table calls attention through this
interface, so no family's attention code is copied here.

It comes in two kernels, as the backbone's own attention does: SDPA (transformers' default) and
eager, which a backbone takes under bf16 on the CPU (evaluators/precision.py `attention_for`). The
eager one calls the family's own `eager_attention_forward`, with transformers' eager (additive)
mask."""

from __future__ import annotations

import sys

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

NAME = "autopeft_sdpa"
EAGER_NAME = "autopeft_eager"
_registered: set[str] = set()


def _insert_visible(mask: torch.Tensor, at: int, n: int, rows: bool) -> torch.Tensor:
    """Insert `n` always-visible key columns at position `at` of a 4-D mask, and with `rows`
    as many query rows that see what the first token sees (prompt tokens never see padding)."""
    visible = True if mask.dtype == torch.bool else 0.0
    cols = mask.new_full((*mask.shape[:-1], n), visible)
    mask = torch.cat([mask[..., :at], cols, mask[..., at:]], dim=-1)
    if rows and mask.shape[-2] > 1:
        # the first token ([CLS]) is never padding in an encoder: its row is the padding pattern
        new_rows = mask[..., :1, :].expand(*mask.shape[:-2], n, mask.shape[-1])
        mask = torch.cat([mask[..., :at, :], new_rows, mask[..., at:, :]], dim=-2)
    return mask


def _with_prompts_and_prefix(module, query, key, value, attention_mask):
    """The keys, values and mask of one attention call, widened for prompt tokens and the prefix."""
    if attention_mask is not None and attention_mask.shape[-1] < key.shape[-2]:
        extra = key.shape[-2] - attention_mask.shape[-1]
        attention_mask = _insert_visible(attention_mask, getattr(module, "_autopeft_prompt_at", 1), extra, rows=True)
    prefix = getattr(module, "autopeft_prefix", None)
    if prefix is not None and not prefix.is_off():
        pk, pv = prefix.key_values(query)
        key = torch.cat([pk.to(key.dtype), key], dim=2)
        value = torch.cat([pv.to(value.dtype), value], dim=2)
        if attention_mask is not None:
            attention_mask = _insert_visible(attention_mask, 0, pk.shape[2], rows=False)
    return key, value, attention_mask


def autopeft_attention(module, query, key, value, attention_mask, **kwargs):
    """SDPA attention, plus prompt-token mask widening and the module's prefix, if any."""
    key, value, attention_mask = _with_prompts_and_prefix(module, query, key, value, attention_mask)
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def family_eager_attention(module):
    """The family's own eager attention (each family in the table defines `eager_attention_forward`
    in its modeling module); SDPA, which takes the same additive mask, for a family without one."""
    return getattr(sys.modules.get(type(module).__module__), "eager_attention_forward", sdpa_attention_forward)


def autopeft_eager_attention(module, query, key, value, attention_mask, **kwargs):
    """The family's eager attention, plus prompt-token mask widening and the module's prefix."""
    key, value, attention_mask = _with_prompts_and_prefix(module, query, key, value, attention_mask)
    return family_eager_attention(module)(module, query, key, value, attention_mask, **kwargs)


def ensure_registered(eager: bool = False) -> str:
    """Register the attention function (SDPA or eager) and its mask builder once per process."""
    name = EAGER_NAME if eager else NAME
    if name not in _registered:
        AttentionInterface.register(name, autopeft_eager_attention if eager else autopeft_attention)
        AttentionMaskInterface.register(name, ALL_MASK_ATTENTION_FUNCTIONS["eager" if eager else "sdpa"])
        _registered.add(name)
    return name
