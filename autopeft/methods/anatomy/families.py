"""Per-family tables: module paths inside the backbone (what `AutoModel` loads) and config keys.

Paths are relative: `layers` to the backbone, the others to one layer. A family is one entry;
users describe an unknown family with the same fields in the space file.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from autopeft.errors import UserError


@dataclass(frozen=True)
class Anatomy:
    """Where the PEFT-relevant modules of one model family live, and what kind of model it is."""

    name: str
    model_types: tuple[str, ...]
    kind: str  # "encoder" | "decoder" | "vision"
    layers: str
    q: str
    k: str
    v: str
    o: str
    ffn_in: tuple[str, ...]  # gated FFNs (LLaMA) have two: gate and up
    ffn_out: str
    attention: str  # the module that calls transformers' attention interface
    layer_norms: tuple[str, ...] = ()  # norms inside a layer that have a bias (BitFit "ln")
    # config keys
    hidden_key: str = "hidden_size"
    heads_key: str = "num_attention_heads"
    kv_heads_key: str | None = None
    ffn_key: str = "intermediate_size"
    layers_key: str = "num_hidden_layers"
    head_dim_key: str | None = None
    # which projections carry a bias: True/False, or the config key that says so
    bias: dict[str, Any] = field(default_factory=dict)
    # the task model's attribute holding the backbone and the head (for counting)
    head: str = "linear"  # "linear" | "dense_linear" (RoBERTa/ELECTRA/DistilBERT) | "score" (LLaMA)

    def has_bias(self, slot: str, config: dict[str, Any]) -> bool:
        """Whether the projection `slot` (q, k, v, o, ffn_in, ffn_out) has a bias in `config`."""
        value = self.bias.get(slot, True)
        if isinstance(value, str):
            return bool(config.get(value, False))
        return bool(value)


_BERT = Anatomy(
    name="bert",
    model_types=("bert",),
    kind="encoder",
    layers="encoder.layer",
    q="attention.self.query",
    k="attention.self.key",
    v="attention.self.value",
    o="attention.output.dense",
    ffn_in=("intermediate.dense",),
    ffn_out="output.dense",
    attention="attention.self",
    layer_norms=("attention.output.LayerNorm", "output.LayerNorm"),
)

_LLAMA = Anatomy(
    name="llama",
    model_types=("llama", "mistral"),
    kind="decoder",
    layers="layers",
    q="self_attn.q_proj",
    k="self_attn.k_proj",
    v="self_attn.v_proj",
    o="self_attn.o_proj",
    ffn_in=("mlp.gate_proj", "mlp.up_proj"),
    ffn_out="mlp.down_proj",
    attention="self_attn",
    layer_norms=(),  # RMSNorm has no bias
    kv_heads_key="num_key_value_heads",
    head_dim_key="head_dim",
    bias={"q": "attention_bias", "k": "attention_bias", "v": "attention_bias", "o": "attention_bias",
          "ffn_in": "mlp_bias", "ffn_out": "mlp_bias"},
    head="score",
)

# families that share a layout are the same entry with their names (and what differs) replaced
FAMILIES: dict[str, Anatomy] = {
    "bert": _BERT,
    "roberta": replace(_BERT, name="roberta", model_types=("roberta", "xlm-roberta", "camembert"), head="dense_linear"),
    "electra": replace(_BERT, name="electra", model_types=("electra",), head="dense_linear"),
    "distilbert": Anatomy(
        name="distilbert",
        model_types=("distilbert",),
        kind="encoder",
        layers="transformer.layer",
        q="attention.q_lin",
        k="attention.k_lin",
        v="attention.v_lin",
        o="attention.out_lin",
        ffn_in=("ffn.lin1",),
        ffn_out="ffn.lin2",
        attention="attention",
        layer_norms=("sa_layer_norm", "output_layer_norm"),
        hidden_key="dim",
        heads_key="n_heads",
        ffn_key="hidden_dim",
        layers_key="n_layers",
        head="dense_linear",
    ),
    "vit": Anatomy(
        name="vit",
        model_types=("vit",),
        kind="vision",
        layers="layers",
        q="attention.q_proj",
        k="attention.k_proj",
        v="attention.v_proj",
        o="attention.o_proj",
        ffn_in=("mlp.fc1",),
        ffn_out="mlp.fc2",
        attention="attention",
        layer_norms=("layernorm_before", "layernorm_after"),
        bias={s: "qkv_bias" for s in ("q", "k", "v")},
    ),
    "llama": _LLAMA,
    "qwen2": replace(
        _LLAMA,
        name="qwen2",
        model_types=("qwen2",),
        bias={"q": True, "k": True, "v": True, "o": False, "ffn_in": False, "ffn_out": False},
    ),
}

_DESCRIBE_HINT = (
    "describe it in the space file under `anatomy:` with module-name patterns, e.g. "
    "anatomy: {kind: encoder, layers: encoder.layer, q: attn.q, k: attn.k, v: attn.v, o: attn.o, "
    "ffn_in: [mlp.fc1], ffn_out: mlp.fc2, attention: attn}"
)


def resolve(config: dict[str, Any], described: Anatomy | None = None) -> Anatomy:
    """The anatomy for a backbone config; `described` (from a space file) wins over the table."""
    if described is not None:
        return described
    model_type = config.get("model_type")
    for family in FAMILIES.values():
        if model_type in family.model_types:
            return family
    known = ", ".join(sorted({t for f in FAMILIES.values() for t in f.model_types}))
    raise UserError(f"unknown model family {model_type!r} (known: {known}); {_DESCRIBE_HINT}")
