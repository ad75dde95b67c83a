"""Binding a space file to a backbone: its layers, the slots the backbone has, the genes and the
decoder of a `BoundSpace` (space.py holds what a bound space does; this, how one is built)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autopeft.errors import UserError
from autopeft.methods.anatomy import BackboneDims
from autopeft.methods.candidate import Candidate
from autopeft.methods.registry import METHODS
from autopeft.space.genes import Gene
from autopeft.space.schema import HiddenFractions, MethodBlock, SpaceFile
from autopeft.space.space import BoundSpace


def parse_layers(sel: Any, num_layers: int, where: str) -> list[int]:
    """Layer indices from `all`, `"a-b"` (inclusive), `"3"` or a list of ints."""
    if sel == "all":
        return list(range(num_layers))
    if isinstance(sel, str):
        try:
            if "-" in sel:
                lo, hi = (int(x) for x in sel.split("-", 1))
                idx = list(range(lo, hi + 1))
            else:
                idx = [int(sel)]
        except ValueError:
            raise UserError(f"{where}: layers must be 'all', 'a-b' or a list of ints, got {sel!r}") from None
    else:
        idx = list(sel)
    bad = [i for i in idx if not 0 <= i < num_layers]
    if bad or not idx:
        raise UserError(
            f"{where}: layer {bad[0] if bad else sel} is out of range; the model has layers 0-{num_layers - 1}"
        )
    return sorted(set(idx))


@dataclass
class _MethodPlan:
    method: str
    layers: list[int]
    block: MethodBlock
    slots: list[str]
    groups: list[list[int]]  # the layers each size gene controls


def bind(space: SpaceFile, dims: BackboneDims, name: str = "space") -> BoundSpace:
    """Resolve a validated space file against a backbone: layers, available slots, genes."""
    dropped: list[str] = []
    plans: list[_MethodPlan] = []
    genes: list[Gene] = []
    bindings: list[_SizeBinding] = []
    for method, block in space.methods.items():
        where = f"space {name}: methods.{method}"
        spec = METHODS.get(method)
        if spec is None:
            raise UserError(f"{where}: unknown method {method!r} (known: {', '.join(METHODS)})")
        for slot in block.sizes:
            if slot not in spec.slots:
                raise UserError(f"{where}: unknown slot {slot!r} (allowed: {', '.join(spec.slots)})")
            choices = block.sizes[slot]
            if spec.flag and isinstance(choices, list) and any(c > 1 for c in choices):
                raise UserError(f"{where}.sizes.{slot}: {method} slots are on/off, use [0, 1]")
        layers = parse_layers(block.layers, dims.num_layers, where)
        reason = spec.unsupported_reason(dims)
        if reason:
            dropped.append(f"{method}: {reason}")
            continue
        slots = [s for s in block.sizes if spec.slot_available(s, dims)]
        for s in block.sizes:
            if s not in slots:
                dropped.append(f"{method}.{s}: does not exist on {dims.family}")
        if not slots:
            continue
        groups = _groups(block, layers, where)
        plan = _MethodPlan(method, layers, block, slots, groups)
        plans.append(plan)
        plan_genes, plan_bindings = _size_genes(plan, dims)
        genes.extend(plan_genes)
        bindings.extend(plan_bindings)
    if not plans:
        raise UserError(f"space {name}: nothing applies to {dims.family} ({'; '.join(dropped) or 'no methods'})")
    switch_layers = parse_layers(space.switch.layers, dims.num_layers, f"space {name}: switch") if space.switch else []
    genes.extend(Gene(f"switch@{i}", "switch", (0, 1), (0, 1)) for i in switch_layers)
    fixed_globals, global_genes = _globals(space.globals, {p.method for p in plans}, name)
    genes.extend(global_genes)
    decoder = _make_decoder(bindings, dims.num_layers, switch_layers, fixed_globals, global_genes)
    return BoundSpace(name=name, dims=dims, genes=genes, decoder=decoder, dropped=dropped)


def _groups(block: MethodBlock, layers: list[int], where: str) -> list[list[int]]:
    if block.tie == "all" or block.tie == "depth":
        return [layers]
    if block.tie == "layer":
        return [[i] for i in layers]
    if isinstance(block.groups, int):
        if block.groups < 1:
            raise UserError(f"{where}: groups must be >= 1")
        return [layers[i : i + block.groups] for i in range(0, len(layers), block.groups)]
    groups = [sorted(set(g)) for g in block.groups or []]
    for g in groups:
        if not set(g) <= set(layers):
            raise UserError(f"{where}: group {g} has layers outside the method's layers {layers}")
    return groups


def _slot_choices(choices: list[int] | HiddenFractions, hidden: int) -> tuple[tuple[int, ...], tuple[int, ...]]:
    if isinstance(choices, HiddenFractions):
        codes = tuple(choices.hidden_over_pow2)
        return codes, tuple(0 if c == choices.off_code else hidden // (2**c) for c in codes)
    return tuple(choices), tuple(choices)


@dataclass(frozen=True)
class _SizeBinding:
    """A size gene and what it sets: these slots of this method in these layers."""

    gene: Gene
    method: str
    slots: tuple[str, ...]
    layers: tuple[int, ...]
    depth_gene: str | None  # with tie: depth, only the first `depth` layers of the method


def _size_genes(plan: _MethodPlan, dims: BackboneDims) -> tuple[list[Gene], list[_SizeBinding]]:
    spec = METHODS[plan.method]
    kind = "flag" if spec.flag else "size"
    block = plan.block
    slot_sets = [("*", plan.slots)] if block.shared_size else [(s, [s]) for s in plan.slots]
    genes, bindings = [], []
    depth_gene = f"{plan.method}.depth" if block.tie == "depth" else None
    for label, slots in slot_sets:
        choices, values = _slot_choices(block.sizes[slots[0]], dims.hidden)
        for gi, group in enumerate(plan.groups):
            suffix = {"all": "", "depth": "", "layer": f"@{group[0]}", "groups": f"@g{gi}"}[block.tie]
            gene = Gene(f"{plan.method}.{label}{suffix}", kind, choices, values)
            genes.append(gene)
            bindings.append(_SizeBinding(gene, plan.method, tuple(slots), tuple(group), depth_gene))
    if depth_gene:
        fractions = {max(1, math.ceil(f * len(plan.layers))) for f in block.depth_fractions or []}
        depths = tuple(sorted(set(block.depths or []) | fractions))
        if any(d > len(plan.layers) for d in depths):
            raise UserError(f"methods.{plan.method}: a depth is larger than its {len(plan.layers)} layers")
        genes.append(Gene(depth_gene, "depth", depths, depths))
    return genes, bindings


def _globals(
    spec_globals: dict[str, dict[str, Any]], used: set[str], name: str
) -> tuple[dict[str, dict[str, Any]], list[Gene]]:
    fixed: dict[str, dict[str, Any]] = {}
    genes = []
    for method, options in spec_globals.items():
        if method not in METHODS:
            raise UserError(f"space {name}: globals names unknown method {method!r} (known: {', '.join(METHODS)})")
        model_fields = METHODS[method].Globals.model_fields
        for option, value in options.items():
            if option not in model_fields:
                raise UserError(
                    f"space {name}: globals.{method} has no option {option!r} (allowed: {', '.join(model_fields)})"
                )
            values = value if isinstance(value, list) else [value]
            for v in values:  # validate every choice now, not when first sampled
                try:
                    METHODS[method].globals_from({option: v})
                except Exception as exc:  # pydantic ValidationError
                    msg = exc.errors()[0]["msg"] if hasattr(exc, "errors") else str(exc)
                    raise UserError(f"space {name}: globals.{method}.{option}={v!r}: {msg}") from None
            if isinstance(value, list) and len(value) > 1 and method in used:
                genes.append(Gene(f"{method}:{option}", "global", tuple(value), tuple(value)))
            else:
                fixed.setdefault(method, {})[option] = values[0]
    return fixed, genes


def _make_decoder(
    bindings: list[_SizeBinding],
    num_layers: int,
    switch_layers: list[int],
    fixed_globals: dict[str, dict[str, Any]],
    global_genes: list[Gene],
) -> Callable[[dict[str, Any]], Candidate | None]:
    def decode(a: dict[str, Any]) -> Candidate | None:
        layers: list[dict[str, dict[str, int]]] = [{} for _ in range(num_layers)]
        for b in bindings:
            size = b.gene.value_of(a[b.gene.name])
            if not size:
                continue
            active = b.layers
            if b.depth_gene:
                active = b.layers[: a[b.depth_gene]]
            for i in active:
                for s in b.slots:
                    layers[i].setdefault(b.method, {})[s] = size
        for i in switch_layers:
            if not a[f"switch@{i}"]:
                layers[i] = {}
        glob = {m: dict(o) for m, o in fixed_globals.items()}
        for g in global_genes:
            method, option = g.name.split(":", 1)
            glob.setdefault(method, {})[option] = a[g.name]
        cand = Candidate(layers, glob)
        return None if cand.is_empty() else cand

    return decode
