"""Prefix tuning: learned key/value prefixes in a layer's attention.

The prefix lives on the attention module (`autopeft_prefix`); the autopeft attention function
(methods/attention.py) prepends it to the keys and values. With `reparam`, the prefix is an
MLP of an embedding during training and `fold()` turns it into plain tensors for export."""

from __future__ import annotations

import torch
from torch import nn

from autopeft.methods.attention import ensure_registered
from autopeft.methods.common import Elastic, Gate
from autopeft.methods.prefix.spec import PrefixGlobals


class Prefix(Elastic, nn.Module):
    """P_k and P_v of one layer, shaped (length, kv_heads, head_dim) each."""

    SLICED_ROWS = ("kv", "embedding")

    def __init__(self, length: int, hidden: int, kv_heads: int, head_dim: int, glob: PrefixGlobals):
        super().__init__()
        self.length, self.kv_heads, self.head_dim = length, kv_heads, head_dim
        kv_dim = kv_heads * head_dim
        if glob.reparam:
            self.embedding = nn.Parameter(torch.randn(length, hidden) * 0.02)
            self.reparam = nn.Sequential(
                nn.Linear(hidden, glob.reparam_hidden), nn.Tanh(), nn.Linear(glob.reparam_hidden, 2 * kv_dim)
            )
            self.kv = None
        else:
            self.kv = nn.Parameter(torch.randn(length, 2 * kv_dim) * 0.02)
        self.gate = Gate(hidden) if glob.gate else None

    def full_size(self) -> int | None:
        return self.length

    def _kv(self, length: int) -> torch.Tensor:
        if self.kv is not None:
            return self.kv[:length]
        return self.reparam(self.embedding[:length])

    def key_values(self, query: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Prefix keys and values, (batch, kv_heads, length, head_dim), for a query batch."""
        batch = query.shape[0]
        length = self.length if self.active is None else self.active  # a shorter prefix: the leading rows
        kv = self._kv(length).view(length, 2, self.kv_heads, self.head_dim).permute(1, 2, 0, 3)
        pk, pv = (t.unsqueeze(0).expand(batch, -1, -1, -1) for t in kv)
        if self.gate is not None:
            # UniPELT's gate, per example from the mean query (the attention input's projection)
            g = self.gate(query.transpose(1, 2).flatten(2).mean(1))[:, :, None, None]
            pk, pv = pk * g, pv * g
        return pk, pv

    def exported_numel(self) -> int:
        """What an export holds: the folded prefix (and the gate), not the reparam MLP."""
        gate = sum(p.numel() for p in self.gate.parameters()) if self.gate is not None else 0
        return 2 * self.length * self.kv_heads * self.head_dim + gate

    def fold(self) -> None:
        """Replace the reparameterisation by the prefix it computes (exact, for export)."""
        if self.kv is not None:
            return
        with torch.no_grad():
            folded = self.reparam(self.embedding).detach().clone()
        del self.embedding
        del self.reparam
        self.kv = nn.Parameter(folded)


def prepare(model, layers, anatomy, glob, peft, candidate) -> None:
    """Route attention through the prefix-aware function (restored on detach)."""
    use_autopeft_attention(model, peft)


def use_autopeft_attention(model, peft) -> None:
    """Switch the model to the autopeft attention function once (its eager kernel where the model
    ran eager attention, else SDPA); detach switches back."""
    if getattr(model, "_autopeft_attention_users", 0) == 0:
        previous = model.config._attn_implementation
        model.set_attn_implementation(ensure_registered(eager=previous == "eager"))

        def restore() -> None:
            model._autopeft_attention_users -= 1
            if model._autopeft_attention_users == 0:
                model.set_attn_implementation(previous)

        model._autopeft_attention_users = 0
    else:

        def restore() -> None:
            model._autopeft_attention_users -= 1

    model._autopeft_attention_users += 1
    peft.add_undo(restore)


def elastic_modules(ctx, slot: str) -> list[nn.Module]:
    """The supernet's switchable module: the layer's prefix (its length slices)."""
    return [ctx.attention().autopeft_prefix]


def attach(ctx, options: dict[str, int], glob: PrefixGlobals) -> None:
    """A prefix of the chosen length on this layer's attention."""
    dims = ctx.dims
    prefix = Prefix(options["length"], dims.hidden, dims.kv_dim // dims.head_dim, dims.head_dim, glob)
    ctx.peft.add_module("prefix", ctx.attention(), "prefix", prefix)
