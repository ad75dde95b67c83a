"""The hand-designed baselines, each a single candidate defined as its paper defines it.

`fitted(dims, budget)` replaces one over the budget by the largest version of the same design
that fits (named like `houlsby@rf64`). Designs without a size (BitFit, (IA)³) shrink by keeping
fewer of their targets (`ia3@t2`: the first two of its order, `TARGET_ORDER`), so that a small
budget still holds a version of them rather than dropping them: at 0.05% of MiniLM (IA)³ on keys
and values (4,608 parameters) beat LoRA r=1 on q,v by 0.025 on six seeds
(experiments/search_quality/cpu/headroom.md), and neither design was a baseline or a first trial
there while the full (IA)³ did not fit."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from autopeft.errors import UserError
from autopeft.methods.anatomy import BackboneDims
from autopeft.methods.candidate import Candidate
from autopeft.methods.count import count_dims
from autopeft.methods.registry import METHODS


def _every_layer(dims: BackboneDims, layer: dict[str, dict[str, int]], glob: dict | None = None) -> Candidate:
    return Candidate([layer for _ in range(dims.num_layers)], glob or {})


@dataclass(frozen=True)
class Baseline:
    """A design with its paper's size and a ladder of smaller sizes (`tag` names the size)."""

    name: str
    description: str
    sizes: tuple[int, ...]  # the paper's size first, then smaller ones
    tag: str  # how a size shows in the name: rf (reduction factor), r (rank), l (prefix length)
    build: Callable[[BackboneDims, int], Candidate]

    def candidate(self, dims: BackboneDims, size: int | None = None) -> Candidate:
        return self.build(dims, self.sizes[0] if size is None else size)


def _lora(d: BackboneDims, r: int) -> Candidate:
    return _every_layer(d, {"lora": {"q": r, "v": r}})


def _lora_all(d: BackboneDims, r: int) -> Candidate:
    return _every_layer(d, {"lora": {s: r for s in ("q", "k", "v", "o", "ffn_in", "ffn_out")}})


def _houlsby(d: BackboneDims, rf: int) -> Candidate:
    r = max(1, d.hidden // rf)
    return _every_layer(d, {"serial_adapter": {"attn": r, "ffn": r}}, {"serial_adapter": {"activation": "silu"}})


def _pfeiffer(d: BackboneDims, rf: int) -> Candidate:
    return _every_layer(d, {"serial_adapter": {"ffn": max(1, d.hidden // rf)}})


def _prefix(d: BackboneDims, length: int) -> Candidate:
    return _every_layer(d, {"prefix": {"length": length}}, {"prefix": {"reparam": True}})


# The targets a smaller version keeps first (`@t<n>`: the first n available on the backbone).
# BitFit: the query and the FFN's first layer, the two bias terms Ben-Zaken et al. (2022, sec. 4)
# found to change most and to come close to all of them alone, then the rest in block order.
# (IA)³: the FFN's vector goes first (four times the others' size), then the keys' (LoRA adapting
# W_v alone beat W_k alone, Hu et al. 2022, table 5).
TARGET_ORDER = {"bitfit": ("q", "ffn_in", "k", "v", "o", "ffn_out", "ln"), "ia3": ("v", "k", "ffn")}


def _targets(method: str, d: BackboneDims, n: int) -> dict[str, int]:
    """The first `n` of `method`'s targets in TARGET_ORDER that the backbone has, each on (in the
    method's own slot order, so the full design's candidate is the one it always was)."""
    spec = METHODS[method]
    available = [s for s in TARGET_ORDER[method] if spec.slot_available(s, d)]
    if not available:  # e.g. BitFit on llama (no biases): not a baseline there, not an empty candidate
        raise UserError(spec.unsupported_reason(d) or f"{method} has nothing to attach to")
    if not 1 <= n <= len(TARGET_ORDER[method]):
        raise UserError(f"{method}@t{n}: keep 1 to {len(TARGET_ORDER[method])} targets")
    return {s: 1 for s in spec.slots if s in available[:n]}


def _bitfit(d: BackboneDims, n: int) -> Candidate:
    return _every_layer(d, {"bitfit": _targets("bitfit", d, n)})


def _mam(d: BackboneDims, r: int) -> Candidate:
    layer = {"prefix": {"length": 30}, "parallel_adapter": {"ffn": r}}
    return _every_layer(d, layer, {"prefix": {"reparam": True}, "parallel_adapter": {"scale": 4.0}})


def _unipelt(d: BackboneDims, r: int) -> Candidate:
    layer = {"prefix": {"length": 10}, "serial_adapter": {"ffn": r}, "lora": {"q": 8, "v": 8}}
    glob = {"prefix": {"reparam": True, "gate": True}, "serial_adapter": {"gate": True}, "lora": {"gate": True}}
    return _every_layer(d, layer, glob)


def _ia3(d: BackboneDims, n: int) -> Candidate:
    return _every_layer(d, {"ia3": _targets("ia3", d, n)})


BASELINES: dict[str, Baseline] = {
    b.name: b
    for b in (
        Baseline("lora-r8", "LoRA r=8 on q and v (Hu et al. 2022)", (8, 4, 2, 1), "r", _lora),
        Baseline("lora-all", "LoRA r=64 on every linear layer of a block, q, k, v, o and the FFN (QLoRA, "
                 "Dettmers et al. 2023; peft's target_modules='all-linear')", (64, 32, 16, 8, 4, 2, 1), "r",
                 _lora_all),
        Baseline("houlsby", "serial adapters after attention and FFN, reduction factor 16 (Houlsby 2019)",
                 (16, 32, 64, 128, 256), "rf", _houlsby),
        Baseline("pfeiffer", "serial adapter after the FFN, reduction factor 16 (Pfeiffer 2021)",
                 (16, 32, 64, 128, 256), "rf", _pfeiffer),
        Baseline("prefix", "prefix tuning, length 30, MLP reparameterisation (Li & Liang 2021)",
                 (30, 20, 10, 5, 1), "l", _prefix),
        Baseline("bitfit", "every bias term (Ben-Zaken 2022); @t2: the query's and the FFN's first layer's only",
                 (7, 2), "t", _bitfit),
        Baseline("mam", "prefix l=30 + parallel adapter r=512 on the FFN, s=4 (He et al. 2022)",
                 (512, 256, 128, 64, 32, 16, 8), "r", _mam),
        Baseline("unipelt", "gated prefix l=10 + serial adapter r=48 + LoRA r=8 on q,v (Mao et al. 2022)",
                 (48, 24, 12, 6), "r", _unipelt),
        Baseline("ia3", "(IA)3 on keys, values and the FFN (Liu et al. 2022); @t2: values and keys, @t1: values",
                 (3, 2, 1), "t", _ia3),
    )
}


def baseline(name: str, dims: BackboneDims) -> Candidate:
    """The baseline `name` (optionally `name@<tag><size>`, e.g. `houlsby@rf64`) on a backbone."""
    base, _, sized = name.partition("@")
    if base not in BASELINES:
        raise UserError(f"unknown baseline {name!r} (known: {', '.join(BASELINES)})")
    b = BASELINES[base]
    size = None
    if sized:
        try:
            size = int(sized.removeprefix(b.tag))
        except ValueError:
            example = f"{base}@{b.tag}{b.sizes[-1]}"
            raise UserError(f"baseline size {sized!r}: write it as {b.tag}<number>, e.g. {example}") from None
    return b.candidate(dims, size)


def available(dims: BackboneDims) -> dict[str, str]:
    """Baselines usable on this backbone, and why the others are not."""
    out = {}
    for name, b in BASELINES.items():
        try:
            out[name] = ""
            count_dims(b.candidate(dims), dims)
        except UserError as exc:
            out[name] = str(exc)
    return out


def fitted(dims: BackboneDims, budget: int | None) -> list[tuple[str, Candidate]]:
    """Each usable baseline, or the largest version of its design within `budget` (skipped if none)."""
    out = []
    for name, b in BASELINES.items():
        for i, size in enumerate(b.sizes):
            try:
                cand = b.candidate(dims, size)
                params = count_dims(cand, dims).peft_params
            except UserError:
                break
            if budget is None or params <= budget:
                out.append((name if i == 0 else f"{name}@{b.tag}{size}", cand))
                break
    return out
