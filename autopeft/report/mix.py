"""Which PEFT methods a trial's candidate uses, named and coloured for plots and tables."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from typing import Any

from autopeft.methods.candidate import Candidate
from autopeft.methods.registry import METHODS

# Fixed colours for single-method candidates (each spec's `colour`), so a method keeps its
# colour across runs and across the refreshes of a running search.
METHOD_COLOURS = {name: spec.colour for name, spec in METHODS.items()}
# Mixes of several methods take these in order of how often they occur.
# (six at most: a longer legend is read less than a grey "other mixes").
MIX_COLOURS = ["#6A3D9A", "#B15928", "#E7298A", "#666600", "#17BECF", "#393B79"]
OTHER_COLOUR = "#9E9E9E"
OTHER_LABEL = "other mixes"
SHORT_NAMES = {name: spec.label for name, spec in METHODS.items()}


def raw_layers(candidate: Any) -> list[dict[str, dict[str, int]]]:
    """The per-layer `{method: {slot: size}}` of a candidate cell (JSON text or dict); [] if unreadable."""
    try:
        data = json.loads(candidate) if isinstance(candidate, str) else candidate
        layers = data["layers"]
    except (TypeError, ValueError, KeyError):
        return []
    return [layer if isinstance(layer, dict) else {} for layer in layers] if isinstance(layers, list) else []


def methods_of(candidate: Any) -> tuple[str, ...]:
    """The methods a candidate uses, in the registry's order (unknown names last, sorted)."""
    used = {m for layer in raw_layers(candidate) for m, sizes in layer.items() if sizes}
    order = {m: i for i, m in enumerate(METHODS)}
    return tuple(sorted(used, key=lambda m: (order.get(m, len(order)), m)))


# Abbreviations for mixes of three or more methods, so legend entries stay one short line.
ABBREVIATIONS = {name: spec.abbreviation for name, spec in METHODS.items() if spec.abbreviation}


def mix_label(methods: Iterable[str]) -> str:
    """A human name for a mix of methods, e.g. `LoRA + prefix`, `LoRA + SA + PA` for three or more."""
    methods = list(methods)
    if len(methods) >= 3:
        return "+".join(ABBREVIATIONS.get(m, SHORT_NAMES.get(m, m)) for m in methods)
    names = [SHORT_NAMES.get(m, m) for m in methods]
    return " + ".join(names) if names else "(none)"


def describe(candidate: Any) -> str:
    """The candidate's compact description (`lora[q8,v8]@0-5`), or a short note when unreadable."""
    try:
        return Candidate.from_json(candidate).describe()
    except Exception:  # a newer or damaged candidate must not stop the report
        return "(unreadable candidate)"


def mix_colours(mixes: Iterable[tuple[str, ...]], max_mixes: int = 6) -> dict[tuple[str, ...], str]:
    """A colour per mix: single methods keep theirs; the commonest mixes share the rest; others grey."""
    counts = Counter(mixes)
    colours: dict[tuple[str, ...], str] = {}
    multi = [m for m, _ in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])) if len(m) != 1]
    for mix in counts:
        if len(mix) == 1 and mix[0] in METHOD_COLOURS:
            colours[mix] = METHOD_COLOURS[mix[0]]
    for i, mix in enumerate(multi):
        colours[mix] = MIX_COLOURS[i] if i < max_mixes else OTHER_COLOUR
    return colours
