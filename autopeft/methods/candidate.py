"""A candidate: one point of a search space, as plain data (no torch).

    {"format_version": 1,
     "globals": {"lora": {"alpha_ratio": 1.0, ...}},
     "layers": [{"lora": {"q": 8, "v": 8}}, {}, ...]}

Sizes of 0 are dropped, so equal configurations have equal canonical JSON and hash."""

from __future__ import annotations

import hashlib
import json
from functools import cached_property
from itertools import pairwise
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from autopeft.errors import UserError
from autopeft.methods.registry import METHODS

FORMAT_VERSION = 1


def _normalise_layers(layers: list[dict[str, dict[str, int]]]) -> list[dict[str, dict[str, int]]]:
    out = []
    for i, layer in enumerate(layers):
        if not isinstance(layer, dict):
            raise UserError(f"candidate layer {i} must be a mapping of method -> options")
        clean: dict[str, dict[str, int]] = {}
        for method, options in layer.items():
            spec = METHODS.get(method)
            if spec is None:
                raise UserError(f"unknown method {method!r} in candidate layer {i} (known: {', '.join(METHODS)})")
            if not isinstance(options, dict):
                raise UserError(f"candidate layer {i}: {method} options must be a mapping of slot -> size")
            sizes = {}
            for slot, size in options.items():
                if slot not in spec.slots:
                    raise UserError(
                        f"unknown slot {slot!r} for {method} in candidate layer {i} (allowed: {', '.join(spec.slots)})"
                    )
                if isinstance(size, bool) or not isinstance(size, int) or size < 0:
                    raise UserError(
                        f"candidate layer {i}: {method}.{slot} must be a non-negative integer, got {size!r}"
                    )
                if spec.flag and size > 1:
                    raise UserError(f"candidate layer {i}: {method}.{slot} is on/off (0 or 1), got {size}")
                if size:
                    sizes[slot] = size
            if sizes:
                clean[method] = dict(sorted(sizes.items()))
        out.append(dict(sorted(clean.items())))
    return out


def _normalise_globals(glob: dict[str, Any], used: set[str]) -> dict[str, dict[str, Any]]:
    out = {}
    for method in glob:
        if method not in METHODS:
            raise UserError(f"unknown method {method!r} in candidate globals (known: {', '.join(METHODS)})")
    for method in sorted(used):
        try:
            model = METHODS[method].globals_from(glob.get(method))
        except ValidationError as exc:
            err = exc.errors()[0]
            where = ".".join(str(p) for p in err["loc"])
            raise UserError(f"candidate globals {method}.{where}: {err['msg']}") from None
        out[method] = model.model_dump(exclude_none=True)
    return out


class Candidate:
    """An immutable, hashable PEFT configuration: per-layer methods and sizes, plus globals."""

    __slots__ = ("_json", "__dict__")
    _json: str  # the canonical JSON, the one source of every view below

    def __init__(self, layers: list[dict[str, dict[str, int]]], globals: dict[str, Any] | None = None):
        clean = _normalise_layers(list(layers))
        used = {m for layer in clean for m in layer}
        data = {"format_version": FORMAT_VERSION, "globals": _normalise_globals(globals or {}, used), "layers": clean}
        object.__setattr__(self, "_json", json.dumps(data, sort_keys=True, separators=(",", ":")))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Candidate is immutable")

    # --- identity -------------------------------------------------------------------------
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Candidate) and other._json == self._json

    def __hash__(self) -> int:
        return hash(self._json)

    def __repr__(self) -> str:
        return f"Candidate({self.describe()})"

    @cached_property
    def key(self) -> str:
        """A short stable id: the first 12 hex digits of the canonical JSON's SHA-1."""
        return hashlib.sha1(self._json.encode()).hexdigest()[:12]

    # --- contents -------------------------------------------------------------------------
    @property
    def layers(self) -> list[dict[str, dict[str, int]]]:
        """Per-layer `{method: {slot: size}}` (a fresh copy)."""
        return json.loads(self._json)["layers"]

    @property
    def globals(self) -> dict[str, dict[str, Any]]:
        """Per-method global options, defaults filled in, only for methods in use."""
        return json.loads(self._json)["globals"]

    @property
    def num_layers(self) -> int:
        return len(self.layers)

    @property
    def methods(self) -> list[str]:
        """Methods used anywhere in the candidate, sorted."""
        return sorted({m for layer in self.layers for m in layer})

    def is_empty(self) -> bool:
        """True when no layer has any PEFT module (head-only is not a candidate)."""
        return not self.methods

    def describe(self) -> str:
        """A compact human summary, e.g. `lora[q8,v8]@0-5 + prefix[length30]@0-5`."""
        parts: dict[str, dict[str, list[int]]] = {}
        for i, layer in enumerate(self.layers):
            for method, sizes in layer.items():
                sig = ",".join(f"{k}{v}" if not METHODS[method].flag else k for k, v in sizes.items())
                parts.setdefault(method, {}).setdefault(sig, []).append(i)
        out = []
        for method, sigs in parts.items():
            for sig, idx in sigs.items():
                out.append(f"{method}[{sig}]@{_ranges(idx)}")
        return " + ".join(out) if out else "(empty)"

    # --- serialisation --------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return json.loads(self._json)

    def to_json(self, indent: int | None = None) -> str:
        """Canonical JSON (sorted keys); `indent` for humans."""
        return self._json if indent is None else json.dumps(self.to_dict(), indent=indent, sort_keys=True)

    @classmethod
    def from_json(cls, data: str | dict[str, Any]) -> Candidate:
        """Parse a candidate from JSON text or a dict; a newer format version is a clear error."""
        if isinstance(data, str):
            try:
                data = json.loads(data)
            except json.JSONDecodeError as exc:
                raise UserError(f"candidate is not valid JSON: {exc.msg} at line {exc.lineno}") from None
        if not isinstance(data, dict) or "layers" not in data:
            raise UserError("a candidate is a JSON object with 'layers' (and optional 'globals', 'format_version')")
        version = data.get("format_version", FORMAT_VERSION)
        if not isinstance(version, int) or version > FORMAT_VERSION:
            raise UserError(
                f"candidate format version {version!r} is newer than this autopeft understands ({FORMAT_VERSION}); "
                "upgrade autopeft"
            )
        if not isinstance(data["layers"], list):
            raise UserError("candidate 'layers' must be a list with one entry per backbone layer")
        return cls(data["layers"], data.get("globals") or {})

    @classmethod
    def load(cls, path: str | Path) -> Candidate:
        """Read a candidate JSON file."""
        try:
            text = Path(path).read_text()
        except OSError as exc:
            raise UserError(f"cannot read candidate file {path}: {exc.strerror}") from None
        return cls.from_json(text)

    def save(self, path: str | Path) -> None:
        """Write the candidate as indented JSON."""
        Path(path).write_text(self.to_json(indent=2) + "\n")


def _ranges(idx: list[int]) -> str:
    """Sorted layer indices as runs, e.g. [0, 1, 2, 5] -> `0-2,5`."""
    out, start = [], idx[0]
    for a, b in pairwise(idx):
        if b != a + 1:
            out.append(_run(start, a))
            start = b
    return ",".join([*out, _run(start, idx[-1])])


def _run(start: int, end: int) -> str:
    return f"{start}" if start == end else f"{start}-{end}"
