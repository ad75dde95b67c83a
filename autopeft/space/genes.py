"""Genes: the parameter vector a sampler sees. Each gene is one choice of the space."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class Gene:
    """One discrete choice.

    kind: `size` (a width/rank/length, 0 = off), `flag` (0/1 on a slot), `depth` (how many leading
    layers), `switch` (a layer on/off for all methods) or `global` (a method option).
    `choices` are what a sampler picks (codes); `values` the sizes they decode to (for encodings).
    """

    name: str
    kind: str
    choices: tuple[Any, ...]
    values: tuple[Any, ...]

    @property
    def has_off(self) -> bool:
        """Whether some choice turns its modules off."""
        return self.kind != "global" and any(v == 0 for v in self.values)

    def value_of(self, choice: Any) -> Any:
        """The size (or option value) a choice decodes to."""
        return self.values[self.choices.index(choice)]

    def ordinal(self, choice: Any) -> float:
        """A numeric position for encodings: log2(1 + size) for sizes, the index otherwise."""
        value = self.value_of(choice)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return float(self.choices.index(choice))
        return math.log2(1 + value) if self.kind == "size" else float(value)

    def smallest(self) -> Any:
        """The choice with the smallest decoded value (off when there is one)."""
        return min(self.choices, key=lambda c: sort_key(self.value_of(c)))

    def largest(self) -> Any:
        """The choice with the largest decoded value."""
        return max(self.choices, key=lambda c: sort_key(self.value_of(c)))


def sort_key(value: Any) -> float:
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, int | float):
        return float(value)
    return 0.0
