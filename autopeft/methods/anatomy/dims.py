"""Sizes of a backbone read from its config alone (no weights, no torch)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from autopeft.errors import UserError
from autopeft.methods.anatomy.families import Anatomy

PROJECTIONS = ("q", "k", "v", "o", "ffn_in", "ffn_out")


@dataclass(frozen=True)
class BackboneDims:
    """What the parameter formulas need: per-layer sizes, biases, and whole-model counts."""

    family: str
    kind: str
    num_layers: int
    hidden: int
    heads: int
    head_dim: int
    kv_dim: int  # width of k and v (narrower than hidden with grouped-query attention)
    ffn: int
    n_ffn_in: int  # 2 for gated FFNs (gate and up)
    biases: frozenset[str]  # projections that carry a bias
    n_layer_norm_biases: int  # norms with a bias inside one layer
    backbone_params: int | None  # what AutoModel loads; None when the family has no formula
    head_kind: str

    @property
    def q_dim(self) -> int:
        """Output width of the query projection."""
        return self.heads * self.head_dim

    def in_out(self, projection: str) -> tuple[int, int]:
        """(d_in, d_out) of one projection of a layer."""
        return {
            "q": (self.hidden, self.q_dim),
            "k": (self.hidden, self.kv_dim),
            "v": (self.hidden, self.kv_dim),
            "o": (self.q_dim, self.hidden),
            "ffn_in": (self.hidden, self.ffn),
            "ffn_out": (self.ffn, self.hidden),
        }[projection]

    def copies(self, projection: str) -> int:
        """How many modules one projection name stands for in a layer (gate+up for ffn_in)."""
        return self.n_ffn_in if projection == "ffn_in" else 1

    def head_params(self, num_labels: int) -> int:
        """Parameters of the task head that the task model adds on top of the backbone."""
        h = self.hidden
        if self.head_kind == "score":
            return h * num_labels
        if self.head_kind == "dense_linear":
            return h * h + h + h * num_labels + num_labels
        return h * num_labels + num_labels


def _get(config: dict[str, Any], key: str) -> int:
    if key not in config:
        raise UserError(f"the model config has no {key!r}; describe the family's config keys in the space file")
    return int(config[key])


def dims_from_config(config: dict[str, Any], anatomy: Anatomy) -> BackboneDims:
    """Read a backbone's sizes from its config dict, the family's table telling where."""
    hidden = _get(config, anatomy.hidden_key)
    heads = _get(config, anatomy.heads_key)
    head_dim = int(config.get(anatomy.head_dim_key) or hidden // heads) if anatomy.head_dim_key else hidden // heads
    kv_heads = int(config.get(anatomy.kv_heads_key) or heads) if anatomy.kv_heads_key else heads
    biases = frozenset(p for p in PROJECTIONS if anatomy.has_bias(p, config))
    partial = BackboneDims(
        family=anatomy.name,
        kind=anatomy.kind,
        num_layers=_get(config, anatomy.layers_key),
        hidden=hidden,
        heads=heads,
        head_dim=head_dim,
        kv_dim=kv_heads * head_dim,
        ffn=_get(config, anatomy.ffn_key),
        n_ffn_in=len(anatomy.ffn_in),
        biases=biases,
        n_layer_norm_biases=len(anatomy.layer_norms),
        backbone_params=None,
        head_kind=anatomy.head,
    )
    # the backbone's formula reads the other sizes, so it fills in last
    return replace(partial, backbone_params=_backbone_params(config, anatomy, partial))


def _layer_params(d: BackboneDims) -> int:
    total = 0
    for p in PROJECTIONS:
        d_in, d_out = d.in_out(p)
        total += d.copies(p) * (d_in * d_out + (d_out if p in d.biases else 0))
    norms = 2  # every family in the table has two norms per layer
    norm_size = 2 * d.hidden if d.n_layer_norm_biases else d.hidden
    return total + norms * norm_size


def _backbone_params(config: dict[str, Any], anatomy: Anatomy, d: BackboneDims) -> int | None:
    """Parameters of what `AutoModel` loads, by the family's formula (tests check each against a build)."""
    h, n_layers = d.hidden, d.num_layers
    layers = n_layers * _layer_params(d)
    name = anatomy.name
    vocab = config.get("vocab_size", 0)
    if name in ("bert", "roberta"):
        emb = (vocab + config["max_position_embeddings"] + config.get("type_vocab_size", 2)) * h + 2 * h
        return emb + layers + h * h + h
    if name == "electra":
        e = config.get("embedding_size", h)
        emb = (vocab + config["max_position_embeddings"] + config.get("type_vocab_size", 2)) * e + 2 * e
        project = e * h + h if e != h else 0
        return emb + project + layers
    if name == "distilbert":
        return (vocab + config["max_position_embeddings"]) * h + 2 * h + layers
    if name == "vit":
        patch, channels, size = config["patch_size"], config.get("num_channels", 3), config["image_size"]
        n_patches = (size // patch) ** 2
        emb = channels * patch * patch * h + h + h + (n_patches + 1) * h
        pooler_out = config.get("pooler_output_size") or h
        return emb + layers + 2 * h + h * pooler_out + pooler_out
    if name in ("llama", "qwen2"):
        return vocab * h + layers + h
    return None
