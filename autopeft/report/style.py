"""The shared look of the report's PNGs: figures without pyplot, fonts, colours, number formats."""

from __future__ import annotations

import io
from contextlib import AbstractContextManager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from matplotlib.figure import Figure

from autopeft.report.io import atomic_write_bytes

if TYPE_CHECKING:
    from matplotlib.typing import RcKeyType

DPI = 150
# One colour per run when runs are compared (Okabe-Ito, then darker extras).
RUN_COLOURS = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#000000", "#8C6D31"]
_RC: dict[RcKeyType, Any] = {
    "font.size": 10.5,
    "axes.titlesize": 12,
    "axes.labelsize": 11,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#E6E6E6",
    "grid.linewidth": 0.8,
    "legend.fontsize": 9,
}


def style() -> AbstractContextManager:
    """The report's matplotlib settings; draw and save a figure inside it (artists read them on creation)."""
    import matplotlib

    return matplotlib.rc_context(_RC)


def new_figure(width: float, height: float) -> Figure:
    """A figure that does not touch pyplot's global state (safe inside a running search)."""
    return Figure(figsize=(width, height), dpi=DPI, facecolor="white")


def save_png(fig: Figure, path: Path) -> Path:
    """Render to PNG and write it atomically (a watcher of `--plot-every` never sees half a file)."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI, facecolor="white")
    return atomic_write_bytes(Path(path), buf.getvalue())


def fmt_pct(value: float) -> str:
    """A percentage of the backbone with sensible precision: 0.0123%, 0.5%, 12%."""
    if value == 0:
        return "0%"
    if value >= 10:
        return f"{value:.0f}%"
    return f"{value:.2g}%" if value < 0.1 else f"{value:.3g}%"


def fmt_count(value: float) -> str:
    """A parameter count in k/M: 113.6k, 1.2M."""
    if value >= 1e6:
        return f"{value / 1e6:.3g}M"
    if value >= 1e3:
        return f"{value / 1e3:.4g}k"
    return f"{value:.0f}"
