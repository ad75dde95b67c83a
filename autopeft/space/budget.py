"""The `--budget` value: `0.5%`, `0.005` (a fraction), or a count (`113566`, `120k`, `1.2M`)."""

from __future__ import annotations

import re

from autopeft.errors import UserError

_HINT = "write it as a percentage (0.5%), a fraction below 1 (0.005) or a count (120000, 120k, 1.2M)"


def _known(backbone_params: int | None, text: str | float | int) -> int:
    if backbone_params is None:
        raise UserError(f"budget {text!r} is a share of a backbone whose size autopeft cannot compute; "
                        "give it as a count (e.g. 50k)")
    return backbone_params


def parse_budget(text: str | float | int, backbone_params: int | None) -> int:
    """The budget in PEFT parameters, on a backbone of `backbone_params` (None: a family whose size
    has no formula, where only an absolute budget can be given)."""
    raw = str(text).strip().replace("_", "").replace(",", "")
    m = re.fullmatch(r"(\d+(?:\.\d*)?|\.\d+)\s*(%|[kKmM])?", raw)
    if not m:
        raise UserError(f"malformed budget {text!r}: {_HINT}")
    n = _count(text, float(m.group(1)), m.group(2), backbone_params)
    if n < 1:  # "0k", or a share so small of this backbone that it rounds to nothing
        raise UserError(f"budget {text!r} is {n} PEFT parameters; give a positive budget: {_HINT}")
    return n


def _count(text: str | float | int, value: float, unit: str | None, backbone_params: int | None) -> int:
    if unit == "%":
        if not 0 < value <= 100:
            raise UserError(f"budget {text!r} must be a percentage in (0, 100]")
        return int(value / 100 * _known(backbone_params, text))
    if unit in ("k", "K"):
        return int(value * 1_000)
    if unit in ("m", "M"):
        return int(value * 1_000_000)
    if value < 1:
        if value <= 0:
            raise UserError(f"budget {text!r} must be positive: {_HINT}")
        return int(value * _known(backbone_params, text))
    if value != int(value):
        raise UserError(f"budget {text!r}: a count must be a whole number; {_HINT}")
    return int(value)
