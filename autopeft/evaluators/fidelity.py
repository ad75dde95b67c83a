"""How hard to train one candidate: steps or epochs, data fraction, eval-set size, batch size.

Presets: `smoke` (20 steps, for tests), `quick` (100, a plain search's default), `standard`
(300), `paper` (the AutoPEFT recipe's 20 epochs); `steps=N,data=F,eval=M,epochs=E,batch=B`
overrides, alone or after a preset (`quick,eval=500`). `stop=K` trains only the first K steps of
the planned schedule: a multi-fidelity search's lower rung, which a later job continues.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any

from autopeft.errors import UserError

DEFAULT_EVAL = 2000  # examples scored on dev: a standard error of about one point
HEAD_LR = 1e-3  # the task head's learning rate, whatever the methods' (peft's LoRA reference on tweets used it)


@dataclass(frozen=True)
class Fidelity:
    """A training budget: `steps` wins over `epochs`; `data` is the fraction of train sampled from."""

    name: str = "custom"
    steps: int | None = None
    epochs: float | None = None
    data: float = 1.0
    eval: int | None = DEFAULT_EVAL  # None: the whole split
    batch: int = 32
    warmup: float = 0.06  # fraction of steps with a linearly rising learning rate
    stop: int | None = None  # train only this many steps of the planned schedule (a rung); None: all

    def total_steps(self, train_size: int) -> int:
        """Optimizer steps for a training pool of `train_size` examples."""
        if self.steps is not None:
            return self.steps
        pool = max(1, int(round(train_size * self.data)))
        return max(1, math.ceil((self.epochs or 1.0) * pool / self.batch))

    def stop_steps(self, train_size: int) -> int:
        """Where this training stops: `stop`, or the end of the planned schedule."""
        total = self.total_steps(train_size)
        return total if self.stop is None else min(self.stop, total)

    def final(self) -> Fidelity:
        """The same schedule trained to its end."""
        return dataclasses.replace(self, stop=None)

    def label(self) -> str:
        """A compact text form that `parse_fidelity` reads back."""
        parts = [f"steps={self.steps}" if self.steps is not None else f"epochs={self.epochs}"]
        if self.data != 1.0:
            parts.append(f"data={self.data:g}")
        parts.append(f"eval={self.eval if self.eval is not None else 'all'}")
        if self.batch != 32:
            parts.append(f"batch={self.batch}")
        if self.stop is not None:
            parts.append(f"stop={self.stop}")
        return ",".join(parts)


PRESETS: dict[str, Fidelity] = {
    "smoke": Fidelity("smoke", steps=20, eval=200),
    "quick": Fidelity("quick", steps=100),
    "standard": Fidelity("standard", steps=300),
    "paper": Fidelity("paper", epochs=20.0, eval=None),
}
_FIELDS = {"steps": int, "epochs": float, "data": float, "eval": int, "batch": int, "warmup": float, "stop": int}


def parse_fidelity(text: str) -> Fidelity:
    """A Fidelity from `smoke|quick|standard|paper` and/or `key=value` overrides, comma-separated."""
    fid = PRESETS["quick"]
    changes: dict[str, Any] = {}  # each value parsed by its field's own type in _FIELDS
    named = None
    for part in (p.strip() for p in text.split(",") if p.strip()):
        if "=" not in part:
            if part not in PRESETS:
                raise UserError(f"unknown fidelity {part!r}; use one of {', '.join(PRESETS)} or steps=N,data=F,eval=M")
            fid, named = PRESETS[part], part
            continue
        key, value = (s.strip() for s in part.split("=", 1))
        if key not in _FIELDS:
            raise UserError(f"unknown fidelity option {key!r}; use {', '.join(_FIELDS)}")
        try:
            changes[key] = None if key == "eval" and value == "all" else _FIELDS[key](value)
        except ValueError:
            raise UserError(f"fidelity option {key}={value!r} is not a number") from None
    if "epochs" in changes and "steps" not in changes:
        changes["steps"] = None
    fid = dataclasses.replace(fid, **changes, name=named if named and not changes else "custom")
    _check(fid)
    return fid


def _check(fid: Fidelity) -> None:
    if fid.steps is not None and fid.steps < 1 or fid.epochs is not None and not 0 < fid.epochs < math.inf:
        raise UserError("fidelity steps and epochs must be positive (and finite)")
    if not 0 < fid.data <= 1:
        raise UserError(f"fidelity data={fid.data} must be a fraction in (0, 1]")
    if fid.eval is not None and fid.eval < 1 or fid.batch < 1:
        raise UserError("fidelity eval and batch must be positive")
    if fid.stop is not None and fid.stop < 1:
        raise UserError("fidelity stop must be a positive number of steps")
    if not 0 <= fid.warmup < 1:
        raise UserError(f"fidelity warmup={fid.warmup} must be a fraction in [0, 1)")
