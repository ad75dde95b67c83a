"""A search space bound to a backbone: its genes, decoding, sampling and parameter range."""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from autopeft.errors import UserError
from autopeft.methods.anatomy import BackboneDims
from autopeft.methods.candidate import Candidate
from autopeft.methods.count import ParamCount, count_dims
from autopeft.methods.registry import METHODS
from autopeft.space.genes import Gene
from autopeft.space.schema import HiddenFractions, MethodBlock, SpaceFile


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


@dataclass
class BoundSpace:
    """A space on one backbone: genes to sample, `decode` to candidates, exact counts."""

    name: str
    dims: BackboneDims
    genes: list[Gene]
    decoder: Callable[[dict[str, Any]], Candidate | None]
    dropped: list[str] = field(default_factory=list)
    num_labels: int = 2

    # --- decoding and counting ------------------------------------------------------------
    def decode(self, assignment: dict[str, Any]) -> Candidate | None:
        """The candidate for a full gene assignment, or None when it has no PEFT module."""
        return self.decoder(assignment)

    def count(self, candidate: Candidate) -> ParamCount:
        """Exact parameter count of a candidate on this backbone."""
        return count_dims(candidate, self.dims, self.num_labels)

    def params(self, candidate: Candidate) -> int:
        """The budget's measure: exported PEFT parameters."""
        return self.count(candidate).peft_params

    @property
    def log10_size(self) -> float:
        """log10 of the number of gene assignments (codes; several may decode to one candidate)."""
        return sum(math.log10(len(g.choices)) for g in self.genes)

    def max_params(self) -> int:
        """The largest candidate: every gene at its largest size."""
        cand = self.decode({g.name: g.largest() for g in self.genes})
        return self.params(cand) if cand else 0

    def min_params(self) -> int:
        """Parameters of the smallest candidate (see `smallest`)."""
        found = self.smallest()
        return self.params(found[1]) if found else 0

    def check_budget(self, budget: int, given: str) -> None:
        """Refuse (one line) a budget below the smallest candidate; `given` is the user's text."""
        smallest = self.min_params()
        if budget < smallest:
            raise UserError(f"budget {given} ({budget:,} PEFT parameters) is below the smallest candidate of "
                            f"space {self.name!r} ({smallest:,}); raise --budget or choose a smaller space")

    def smallest(self) -> tuple[dict[str, Any], Candidate] | None:
        """The smallest candidate and its genes: one module at its smallest non-zero size,
        then as few layers switched on (or as shallow a depth) as keeps it non-empty."""
        if not self.genes:
            cand = self.decode({})
            return ({}, cand) if cand else None
        base = {g.name: (g.largest() if g.kind in ("switch", "depth") else g.smallest()) for g in self.genes}
        best: tuple[int, dict[str, Any], Candidate] | None = None
        for g in self.genes:
            if g.kind not in ("size", "flag"):
                continue
            nonzero = [c for c in g.choices if g.value_of(c)]
            if not nonzero:
                continue
            trial = dict(base, **{g.name: min(nonzero, key=g.value_of)})
            cand = self.decode(trial)
            if cand is not None and (best is None or self.params(cand) < best[0]):
                best = (self.params(cand), trial, cand)
        if best is None:
            return None
        # then switch layers off / shorten depths while something stays on (AutoPEFT, NOAH spaces)
        params, assignment, found = best
        for g in self.genes:
            if g.kind not in ("switch", "depth"):
                continue
            for choice in sorted(g.choices, key=g.value_of):
                cand = self.decode(dict(assignment, **{g.name: choice}))
                if cand is not None and self.params(cand) < params:
                    params, assignment, found = self.params(cand), dict(assignment, **{g.name: choice}), cand
                    break
        return assignment, found

    def largest_within(
        self, budget: int | None, rng: random.Random, tries: int = 300
    ) -> tuple[dict[str, Any], Candidate]:
        """A largest-feasible candidate: the best of the repaired all-largest assignment and
        `tries` random feasible samples (exact maximisation is a knapsack problem)."""
        top = {g.name: g.largest() for g in self.genes}
        best = self.repair(top, rng, budget)
        for _ in range(tries):
            a, cand = self.sample(rng, budget)
            if self.params(cand) > self.params(best[1]):
                best = (a, cand)
        return best

    def assignment_of(self, candidate: Candidate, passes: int = 3) -> dict[str, Any] | None:
        """Genes that decode to exactly `candidate`, or None when the space cannot express it
        (a size off its grid, a global it fixes otherwise). Coordinate descent on the number of
        (layer, method, slot) sizes and globals that differ: genes barely interact, so a pass or two
        finds it; the exact match is checked at the end."""
        target = _parts(candidate)
        assignment = {g.name: g.smallest() for g in self.genes}
        for g in self.genes:  # switches and depths start open, so size genes can show their effect
            if g.kind in ("switch", "depth"):
                assignment[g.name] = g.largest()

        def distance(a: dict[str, Any]) -> int:
            cand = self.decode(a)
            return len(target ^ _parts(cand)) if cand is not None else len(target) + 1

        def rank(g: Gene, choice: Any) -> tuple[int, bool]:
            """Fewest differences first; on a tie, keep the current choice."""
            return distance(dict(assignment, **{g.name: choice})), choice != assignment[g.name]

        for _ in range(passes):
            changed = False
            for g in self.genes:
                best = min(g.choices, key=partial(rank, g))
                changed |= best != assignment[g.name]
                assignment[g.name] = best
            if not changed:
                break
        found = self.decode(assignment)
        return assignment if found is not None and found.key == candidate.key else None

    # --- sampling -------------------------------------------------------------------------
    def random_assignment(self, rng: random.Random, density: float | None = None) -> dict[str, Any]:
        """A random gene assignment; with `density`, each off-able gene is on with that probability.

        Uniform per-gene sampling puts almost every candidate of a per-layer space near the
        middle of the parameter range; drawing a density first spreads samples over the range.
        """
        out = {}
        for g in self.genes:
            if density is not None and g.has_off and g.kind in ("size", "flag"):
                on = [c for c in g.choices if g.value_of(c)]
                off = [c for c in g.choices if not g.value_of(c)]
                out[g.name] = rng.choice(on) if on and rng.random() < density else rng.choice(off)
            else:
                out[g.name] = rng.choice(g.choices)
        return out

    def sample(
        self, rng: random.Random, budget: int | None = None, mode: str = "mixed", max_tries: int = 2000
    ) -> tuple[dict[str, Any], Candidate]:
        """A feasible (non-empty, within `budget` PEFT params) random candidate and its genes.

        `mode="uniform"` draws each gene uniformly (rejection against the budget); `"mixed"`
        first draws a density in (0, 1). After `max_tries` rejections a sample is repaired by
        switching genes off until it fits.
        """
        for _ in range(max_tries):
            density = rng.random() if mode == "mixed" else None
            assignment = self.random_assignment(rng, density)
            cand = self.decode(assignment)
            if cand is not None and (budget is None or self.params(cand) <= budget):
                return assignment, cand
        return self.repair(assignment, rng, budget)

    def repair(
        self, assignment: dict[str, Any], rng: random.Random, budget: int | None
    ) -> tuple[dict[str, Any], Candidate]:
        """Shrink an assignment one step at a time (a random gene each time) until it fits."""
        assignment = dict(assignment)
        shrinkable = [g for g in self.genes if g.kind in ("size", "flag", "depth", "switch")]
        while True:
            cand = self.decode(assignment)
            if cand is not None and (budget is None or self.params(cand) <= budget):
                return assignment, cand
            options = []
            for g in shrinkable:
                smaller = [c for c in g.choices if g.value_of(c) < g.value_of(assignment[g.name])]
                if smaller:
                    step = max(smaller, key=g.value_of)
                    if self.decode(dict(assignment, **{g.name: step})) is not None:
                        options.append((g.name, step))
            if not options:
                break
            name, step = rng.choice(options)
            assignment[name] = step
        raise UserError(
            f"no candidate of space {self.name!r} fits a budget of {budget:,} PEFT parameters "
            f"(the smallest has {self.min_params():,}); raise --budget or use a smaller space"
        )


def _parts(candidate: Candidate) -> set[tuple]:
    """A candidate as a set of facts: (layer, method, slot, size) and (method, option, value)."""
    parts = {(i, m, slot, size) for i, layer in enumerate(candidate.layers) for m, sizes in layer.items()
             for slot, size in sizes.items()}
    return parts | {(m, k, repr(v)) for m, opts in candidate.globals.items() for k, v in opts.items()}


# ---------------------------------------------------------------------------------------------
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
