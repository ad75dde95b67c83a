"""`layers.png`: for each front member, which methods sit at which layer and how large they are."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autopeft.methods.registry import METHODS
from autopeft.report.backbone import backbone_dims, candidate_globals, cell_value
from autopeft.report.mix import SHORT_NAMES, methods_of, raw_layers
from autopeft.report.run import RunData
from autopeft.report.style import fmt_count, fmt_pct, new_figure, save_png, style

MAX_PANELS = 24
MAX_WIDTH_IN = 12.5
_COLUMN_NAMES = {"serial_adapter": "serial\nadapt.", "parallel_adapter": "parallel\nadapt."}
_SLOT_ABBREV = {"attn": "a", "ffn": "f", "ffn_in": "fi", "ffn_out": "fo", "length": "", "insert": "on"}


def cell_label(method: str, sizes: dict[str, int]) -> str:
    """A cell's text: slot and size (`q8 v8`, `f16`, `30`), or the slots switched on for on/off methods."""
    flag = method in METHODS and METHODS[method].flag
    parts = [_SLOT_ABBREV.get(slot, slot) + ("" if flag else str(size)) for slot, size in sizes.items()]
    return " ".join(p for p in parts if p)


def layer_matrix(candidate: Any, methods: list[str], dims: Any | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per layer × method: the value coloured (PEFT parameters with `dims`, else summed sizes; 0 = absent)
    and the cell's text."""
    layers = raw_layers(candidate)
    glob = candidate_globals(candidate)
    values = np.zeros((len(layers), len(methods)))
    labels = np.full((len(layers), len(methods)), "", dtype=object)
    for i, layer in enumerate(layers):
        for j, method in enumerate(methods):
            sizes = layer.get(method) or {}
            if not sizes:
                continue
            labels[i, j] = cell_label(method, sizes)
            values[i, j] = cell_value(method, sizes, dims, glob.get(method))
    index = pd.RangeIndex(len(layers), name="layer")
    return pd.DataFrame(values, index=index, columns=methods), pd.DataFrame(labels, index=index, columns=methods)


def layers_data(run: RunData, dims: Any | None = None) -> list[dict[str, Any]]:
    """One entry per front member drawn (by parameters, at most MAX_PANELS): trial, score, pct, matrices."""
    front = run.front.sort_values("peft_params")
    if len(front) > MAX_PANELS:  # keep the ends and an even spread between them
        picks = np.unique(np.linspace(0, len(front) - 1, MAX_PANELS).round().astype(int))
        front = front.iloc[picks]
    used = {m for c in front["candidate"] for m in methods_of(c)}
    methods = [m for m in METHODS if m in used] + sorted(used - set(METHODS))
    out = []
    for row in front.to_dict("records"):
        values, labels = layer_matrix(row["candidate"], methods, dims)
        out.append({"trial": row["trial"], "score": row["score"], "peft_pct": row["peft_pct"],
                    "peft_params": row["peft_params"], "values": values, "labels": labels})
    return out


def plot_layers(run: RunData, path: Path) -> Path:
    """Draw a grid of layer × method heatmaps, one per front member, on one colour scale."""
    with style():
        return _plot(run, path)


def _plot(run: RunData, path: Path) -> Path:
    dims = backbone_dims(run.meta)
    panels = layers_data(run, dims)
    if not panels:
        fig = new_figure(8, 3)
        fig.text(0.5, 0.5, "no Pareto front yet", ha="center", va="center", fontsize=13, color="#777777")
        return save_png(fig, path)
    methods = list(panels[0]["values"].columns)
    n_layers = max(len(p["values"]) for p in panels)
    panel_w, panel_h = 0.42 * len(methods) + 0.5, 0.26 * n_layers + 1.15
    ncols = max(1, min(len(panels), int(MAX_WIDTH_IN // panel_w)))  # wrap rather than grow past a screen
    nrows = math.ceil(len(panels) / ncols)
    fig = new_figure(max(7.5, ncols * panel_w + 1.6), nrows * panel_h + 1.3)
    positive = [v for p in panels for v in p["values"].to_numpy().ravel() if v > 0]
    from matplotlib.colors import LogNorm

    vmax = max(positive)
    norm = LogNorm(vmin=min(min(positive), vmax / 10), vmax=vmax)
    cmap = _cmap()
    axes = fig.subplots(nrows, ncols, squeeze=False, sharey=True)
    image = None
    for ax, panel in zip(axes.ravel(), panels, strict=False):
        image = _draw_panel(ax, panel, methods, cmap, norm)
    for ax in axes.ravel()[len(panels):]:
        ax.set_visible(False)
    for row in axes:
        row[0].set_ylabel("layer")
    unit = "PEFT parameters in the cell" if dims is not None else "size in the cell (summed over slots)"
    shown = f"{len(panels)} of {len(run.front)}" if len(panels) < len(run.front) else f"all {len(panels)}"
    fig.suptitle(f"Where the front's members put their parameters ({shown} members, by size)",
                 fontsize=13, fontweight="bold", x=0.01, ha="left")
    fig.text(0.01, 1 - 0.62 / fig.get_figheight(), "cell text: slot and size (a = attention, f = FFN, "
             "fi/fo = FFN in/out; q k v o = projections); blank = no module", fontsize=8.5, color="#555555")
    fig.subplots_adjust(left=0.06, right=0.875, top=1 - 1.15 / fig.get_figheight(), bottom=0.35 / fig.get_figheight(),
                        wspace=0.12, hspace=0.55)
    if image is None:
        raise ValueError("no panel to draw")
    # its own axes, placed after the grid, so the bar never overlaps the last column
    bar = fig.colorbar(image, cax=fig.add_axes((0.905, 0.2, 0.014, 0.6)))
    bar.set_label(unit)
    bar.ax.yaxis.set_major_formatter(_count_formatter())
    return save_png(fig, path)


def _draw_panel(ax, panel: dict[str, Any], methods: list[str], cmap, norm):
    values = panel["values"].to_numpy()
    image = ax.imshow(np.ma.masked_equal(values, 0), cmap=cmap, norm=norm, aspect="auto", interpolation="nearest")
    small = len(panel["labels"]) <= 16
    for (i, j), text in np.ndenumerate(panel["labels"].to_numpy()):
        if text and small:
            dark_cell = norm(values[i, j]) > 0.5  # viridis_r: large values are dark
            ax.text(j, i, text, ha="center", va="center", fontsize=6.5 if len(text) <= 7 else 5.2,
                    color="white" if dark_cell else "black")
    ax.set_xticks(range(len(methods)), [_COLUMN_NAMES.get(m, SHORT_NAMES.get(m, m)) for m in methods],
                  fontsize=7.5, rotation=0)
    ax.set_yticks(range(len(values)))
    ax.tick_params(axis="y", labelsize=7.5)
    ax.tick_params(length=0)
    ax.grid(False)
    for spine in ax.spines.values():
        spine.set_visible(True)
        spine.set_color("#CCCCCC")
    ax.set_xticks(np.arange(-0.5, len(methods)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(values)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.2)
    ax.tick_params(which="minor", length=0)
    ax.set_title(f"#{panel['trial']}  {panel['score']:.3f}\n{fmt_pct(panel['peft_pct'])} · "
                 f"{fmt_count(panel['peft_params'])}", fontsize=8.5)
    return image


def _cmap():
    from matplotlib import colormaps

    # absent modules: a pale cell, not the colour of "small"
    return colormaps["viridis_r"].with_extremes(bad="#F5F5F5")


def _count_formatter():
    from matplotlib.ticker import FuncFormatter

    return FuncFormatter(lambda v, _: fmt_count(v))
