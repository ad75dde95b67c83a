"""One attention function, registered with transformers' attention interface, that knows about
prefixes and inserted prompt tokens: it prepends a layer's prefix keys/values and widens the
mask for prompt tokens and prefixes. Every family in the table calls attention through this
interface, so no family's attention code is copied here."""

from __future__ import annotations

import torch
from transformers import AttentionInterface
from transformers.integrations.sdpa_attention import sdpa_attention_forward
from transformers.masking_utils import ALL_MASK_ATTENTION_FUNCTIONS, AttentionMaskInterface

NAME = "autopeft_sdpa"
_registered = False


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


def autopeft_attention(module, query, key, value, attention_mask, **kwargs):
    """SDPA attention, plus prompt-token mask widening and the module's prefix, if any."""
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
    return sdpa_attention_forward(module, query, key, value, attention_mask, **kwargs)


def ensure_registered() -> str:
    """Register the attention function and its (SDPA) mask builder once per process."""
    global _registered
    if not _registered:
        AttentionInterface.register(NAME, autopeft_attention)
        AttentionMaskInterface.register(NAME, ALL_MASK_ATTENTION_FUNCTIONS["sdpa"])
        _registered = True
    return NAME
