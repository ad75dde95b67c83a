"""Prefix tuning (Li & Liang 2021): learned keys/values prepended in each chosen layer's attention."""

from __future__ import annotations

from typing import Any

from pydantic import Field

from autopeft.methods.anatomy.dims import BackboneDims
from autopeft.methods.spec import MethodGlobals, MethodSpec


class PrefixGlobals(MethodGlobals):
    reparam: bool = Field(default=False, description="train through an MLP that folds away for export")
    reparam_hidden: int = Field(default=512, ge=1)
    gate: bool = Field(default=False, description="UniPELT's learned gate on the prefix")


class PrefixSpec(MethodSpec):
    name = "prefix"
    title = "prefix tuning"
    slots = ("length",)
    # Decoders apply rotary embeddings inside attention; prefixes there need the KV-cache route
    # (as peft does), which is not built yet.
    kinds = frozenset({"encoder", "vision"})
    default_lr = 1e-1
    lr_source = "measured: experiments/train_speed/lr_sweep_gpu.csv (tweets, 3 seeds, best at 300 steps)"
    identity_at_init = False
    Globals = PrefixGlobals
    attach_rank = 60
    label = "prefix"
    colour = "#D55E00"

    def peft_blockers(self, candidate: Any) -> list[str]:
        reasons = []
        lengths = [layer.get("prefix", {}).get("length", 0) for layer in candidate.layers]
        if len(set(lengths)) > 1:
            reasons.append(f"per-layer prefix lengths {lengths} (peft has one num_virtual_tokens for all layers)")
        if candidate.globals.get("prefix", {}).get("gate"):
            reasons.append("the prefix gate (UniPELT's learned gate has no peft equivalent)")
        # checked with peft 0.21.2 on BERT: the text's logits match ours only with position ids shifted
        reasons.append(
            "prefix tuning (peft passes the prefix as past_key_values, so BERT-style embeddings shift the "
            "text's position ids by the prefix length and peft drops explicit position_ids; ours keeps them)"
        )
        return reasons

    def adapters_blockers(self, candidate: Any, dims: BackboneDims) -> list[str]:
        return ["prefix tuning (adapters cannot save it with safetensors: shared tensors)"]

    def layer_params(self, options: dict[str, int], dims: BackboneDims, glob: PrefixGlobals) -> int:
        length = options.get("length", 0)
        gate = (dims.hidden + 1) if glob.gate and length else 0
        return 2 * length * dims.kv_dim + gate

    def layer_train_extra(self, options: dict[str, int], dims: BackboneDims, glob: PrefixGlobals) -> int:
        length = options.get("length", 0)
        if not (glob.reparam and length):
            return 0
        h, m, out = dims.hidden, glob.reparam_hidden, 2 * dims.kv_dim
        # the embedding, then Linear(h, m) and Linear(m, 2 d_kv), replace the folded prefix
        return length * h + (h * m + m) + (m * out + out) - 2 * length * dims.kv_dim
