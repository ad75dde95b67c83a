"""Small torch pieces shared by several methods."""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}


class Elastic:
    """A module whose size can be narrowed at run time (the supernet's weight sharing).

    `active` is None for the full size, 0 for off, or a smaller size that uses the leading
    rows/columns of the full weights (NOAH's weight entanglement)."""

    active: int | None = None
    SLICED_ROWS: tuple[str, ...] = ()  # parameters whose leading rows a smaller size keeps
    SLICED_COLUMNS: tuple[str, ...] = ()  # parameters whose leading columns it keeps

    def is_off(self) -> bool:
        return self.active == 0

    def full_size(self) -> int | None:
        """The size it was built with (None: on/off only)."""
        return None

    def sliced(self) -> dict[str, torch.Tensor]:
        """Its tensors cut to the active size, keyed as the plain module of that size names them."""
        k = self.active
        out = {}
        for name, t in self.named_parameters():  # type: ignore[attr-defined]
            if k is not None and name in self.SLICED_ROWS:
                t = t[:k]
            elif k is not None and name in self.SLICED_COLUMNS:
                t = t[:, :k]
            out[name] = t
        return out

    def exported_tensors(self, prefix: str, model: nn.Module) -> dict[str, torch.Tensor]:
        """Its active tensors named as `apply(model, candidate)` names them (`prefix`: its own name)."""
        return {f"{prefix}.{name}": t for name, t in self.sliced().items()}


class ElasticBottleneck(Elastic):
    """An adapter around a `Bottleneck` (serial or parallel): its width slices."""

    SLICED_ROWS = ("bottleneck.down.weight", "bottleneck.down.bias")
    SLICED_COLUMNS = ("bottleneck.up.weight",)
    bottleneck: Bottleneck

    def full_size(self) -> int | None:
        return self.bottleneck.down.out_features


class Bottleneck(nn.Module):
    """U f(D x): down-projection, nonlinearity, up-projection; U starts at zero (identity)."""

    def __init__(self, hidden: int, width: int, activation: str):
        super().__init__()
        self.down = nn.Linear(hidden, width)
        self.act = ACTIVATIONS[activation]()
        self.up = nn.Linear(width, hidden)
        nn.init.normal_(self.down.weight, std=0.02)
        nn.init.zeros_(self.down.bias)
        nn.init.zeros_(self.up.weight)
        nn.init.zeros_(self.up.bias)

    def forward(self, x: torch.Tensor, width: int | None = None) -> torch.Tensor:
        if width is None or width == self.down.out_features:
            return self.up(self.act(self.down(x)))
        hidden = F.linear(x, self.down.weight[:width], self.down.bias[:width])
        return F.linear(self.act(hidden), self.up.weight[:, :width], self.up.bias)


class Gate(nn.Module):
    """UniPELT's learned gate: sigmoid(W x + b), one scalar per token."""

    def __init__(self, d_in: int):
        super().__init__()
        self.proj = nn.Linear(d_in, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.proj(x))


BRANCH = "autopeft_branch"  # the attribute that names a fusible hook's method (methods/kernels/fuse.py)


def branch_hook(kind: str, fn: Callable) -> Callable:
    """Mark a forward hook as the `kind` branch on its linear, so `--kernels fused` can replace it
    (methods/kernels/fuse.py); the plain path ignores the mark."""
    fn.__dict__[BRANCH] = kind
    return fn


def first_arg(args: tuple, kwargs: dict, name: str) -> torch.Tensor:
    """A module's first input, whether passed by position or by keyword."""
    return args[0] if args else kwargs[name]


def modules_with(model: nn.Module, attr: str) -> dict[str, nn.Module]:
    """The named modules of `model` that carry `attr` (e.g. `autopeft_lora`)."""
    return {name: m for name, m in model.named_modules() if hasattr(m, attr)}
