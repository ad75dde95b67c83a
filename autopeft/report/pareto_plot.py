"""Drawing the Pareto plot with matplotlib from `pareto.pareto_data`'s frames."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from autopeft.report.mix import OTHER_LABEL
from autopeft.report.run import RunData
from autopeft.report.style import RUN_COLOURS, fmt_count, fmt_pct

FRONT_COLOUR = "#1A1A1A"
BUDGET_COLOUR = "#B00020"
BASELINE_FACE = "#FFD23F"


def draw_pareto(fig: Figure, runs: list[RunData], data: list[dict[str, pd.DataFrame]]) -> None:
    """Fill `fig` with the Pareto plot of one run (by method mix) or of several (one front each)."""
    ax = fig.add_axes((0.08, 0.11, 0.64, 0.72))
    handles: list = []
    if len(runs) == 1:
        handles += _draw_points_by_mix(ax, data[0]["points"])
        handles += _draw_front(ax, data[0], FRONT_COLOUR, "Pareto front", members_colour=None)
    else:
        for i, (run, d) in enumerate(zip(runs, data, strict=True)):
            colour = RUN_COLOURS[i % len(RUN_COLOURS)]
            ax.scatter(d["points"]["peft_pct"], d["points"]["score"], s=16, color=colour, alpha=0.3, lw=0)
            handles += _draw_front(ax, d, colour, f"{run.name}: front of {len(d['front'])}", members_colour=colour)
    handles += _draw_baselines(ax, pd.concat([d["baselines"] for d in data]).drop_duplicates("label"))
    handles += _draw_budget_and_ref(ax, runs)
    _axes_cosmetics(ax, runs, data)
    _label_baselines(ax, fig, pd.concat([d["baselines"] for d in data]).drop_duplicates("label"))
    _titles(fig, runs, data)
    if handles:
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.745, 0.83), frameon=False,
                   fontsize=9, borderaxespad=0, handlelength=1.6, labelspacing=0.7)


def _draw_points_by_mix(ax: Axes, points: pd.DataFrame) -> list:
    handles = []
    sizes = points.groupby("legend", sort=False).size()
    width = points.groupby("legend", sort=False)["methods"].first().map(len)
    # single methods first, then the commonest mixes, the grey bucket last
    for legend in sorted(sizes.index, key=lambda k: (k == OTHER_LABEL, width[k] > 1, -sizes[k], k)):
        group = points[points["legend"] == legend]
        colour = group["colour"].iloc[0]
        full, low = group[group["final"]], group[~group["final"]]
        ax.scatter(full["peft_pct"], full["score"], s=34, color=colour, edgecolors="white", lw=0.6, alpha=0.9,
                   zorder=3)
        ax.scatter(low["peft_pct"], low["score"], s=22, facecolors="none", edgecolors=colour, lw=1, alpha=0.7,
                   zorder=2)
        handles.append(Line2D([], [], ls="", marker="o", ms=7, color=colour, label=f"{legend} ({len(group)})"))
    if len(points) and not points["final"].all():
        handles.append(Line2D([], [], ls="", marker="o", ms=6, mfc="none", mec="#555555",
                              label="hollow: lower fidelity"))
    return handles


def _draw_front(ax: Axes, d: dict[str, pd.DataFrame], colour: str, label: str, members_colour: str | None) -> list:
    front, steps = d["front"], d["steps"]
    if front.empty:
        return []
    ax.plot(steps["x"], steps["score"], color=colour, lw=1.8, zorder=4, solid_joinstyle="miter")
    if members_colour is None:  # rings around the mix-coloured points
        ax.scatter(front["peft_pct"], front["score"], s=95, facecolors="none", edgecolors=colour, lw=1.5, zorder=5)
        for x, y, trial in zip(front["peft_pct"], front["score"], front["trial"], strict=True):
            ax.annotate(f"#{trial}", (x, y), xytext=(-4, 7), textcoords="offset points", fontsize=7.5,
                        color="#333333", ha="right", zorder=6)
    else:
        ax.scatter(front["peft_pct"], front["score"], s=48, color=members_colour, edgecolors="white", lw=1,
                   zorder=5)
    return [Line2D([], [], color=colour, lw=1.8, marker="o", ms=8, mfc="none" if members_colour is None else colour,
                   mec=colour, label=label)]


def _draw_baselines(ax: Axes, baselines: pd.DataFrame) -> list:
    if baselines.empty:
        return []
    ax.scatter(baselines["peft_pct"], baselines["score"], marker="*", s=230, color=BASELINE_FACE,
               edgecolors="#1A1A1A", lw=0.9, zorder=7)
    return [Line2D([], [], ls="", marker="*", ms=13, mfc=BASELINE_FACE, mec="#1A1A1A",
                   label=f"hand-designed baselines ({len(baselines)})")]


_OFFSETS = [(7, 8), (7, -16), (-7, 8), (-7, -16), (7, 22), (-7, 22), (7, -30), (-7, -30), (0, 36), (0, -44)]


def _label_baselines(ax: Axes, fig: Figure, baselines: pd.DataFrame) -> None:
    """Name each baseline beside its star, trying offsets until the name overlaps no other (after limits)."""
    if baselines.empty:
        return
    to_pt = 72.0 / fig.dpi
    placed: list[tuple[float, float, float, float]] = []
    for x, y, name in sorted(zip(baselines["peft_pct"], baselines["score"], baselines["label"], strict=True)):
        px, py = (v * to_pt for v in ax.transData.transform((x, y)))
        width, height = 0.6 * 8.5 * len(str(name)) + 4, 13.0  # a bold 8.5 pt name, estimated without rendering
        box = None
        for dx, dy in _OFFSETS:
            left = px + dx if dx >= 0 else px + dx - width
            cand = (left, py + dy - 3, left + width, py + dy - 3 + height)
            if not any(_overlap(cand, other) for other in placed):
                box = (dx, dy, cand)
                break
        dx, dy, cand = box or (7, 8, (px + 7, py + 5, px + 7 + width, py + 18))
        placed.append(cand)
        ax.annotate(name, (x, y), xytext=(dx, dy), textcoords="offset points", fontsize=8.5, fontweight="bold",
                    color="#1A1A1A", zorder=8, ha="left" if dx > 0 else ("right" if dx < 0 else "center"),
                    bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.75})


def _overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _draw_budget_and_ref(ax: Axes, runs: list[RunData]) -> list:
    handles = []
    for budget in sorted({r.budget_pct for r in runs if r.budget_pct}):
        ax.axvline(budget, color=BUDGET_COLOUR, ls="--", lw=1.4, zorder=1)
        ax.axvspan(budget, budget * 1e3, color="#000000", alpha=0.045, lw=0, zorder=0)
        ax.text(budget, 0.025, f"budget {fmt_pct(budget)} ", transform=ax.get_xaxis_transform(), va="bottom",
                ha="right", fontsize=9, color=BUDGET_COLOUR, zorder=8,
                bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none", "alpha": 0.8})
    if any(r.budget_pct for r in runs):
        handles.append(Line2D([], [], color=BUDGET_COLOUR, ls="--", lw=1.4, label="parameter budget"))
    ref = runs[0].ref_score
    if ref is not None and len(runs[0].completed):
        ax.axhline(ref, color="#777777", ls=":", lw=1.2, zorder=1)
        handles.append(Line2D([], [], color="#777777", ls=":", lw=1.2,
                              label=f"hypervolume reference ({ref:.3g})"))
    return handles


def _axes_cosmetics(ax: Axes, runs: list[RunData], data: list[dict[str, pd.DataFrame]]) -> None:
    xs = [v for d in data for key in ("points", "baselines", "front") for v in d[key]["peft_pct"].dropna()]
    xs += [r.budget_pct for r in runs if r.budget_pct]
    ax.set_xscale("log")
    if xs:
        lo, hi = min(xs), max(xs)
        pad = max(1.35, (hi / lo) ** 0.06)
        ax.set_xlim(lo / pad, hi * pad)
    else:
        ax.set_xlim(0.01, 1)
        ax.text(0.5, 0.5, "no completed trial yet", transform=ax.transAxes, ha="center", va="center",
                fontsize=13, color="#777777")
    _log_ticks(ax.xaxis, fmt_pct, ax.get_xlim())
    ax.set_xlabel("PEFT parameters (% of the backbone, log scale)")
    metric = runs[0].metric
    ax.set_ylabel(f"{metric} (held-out selection split)")
    ax.margins(y=0.08)
    backbone = runs[0].backbone_params
    if backbone:
        scale = backbone / 100
        top = ax.secondary_xaxis("top", functions=(lambda p: np.multiply(p, scale), lambda n: np.divide(n, scale)))
        lo, hi = ax.get_xlim()
        _log_ticks(top.xaxis, fmt_count, (lo * backbone / 100, hi * backbone / 100))
        top.set_xlabel(f"PEFT parameters (backbone: {fmt_count(backbone)})", fontsize=9.5, color="#555555")
        top.tick_params(labelsize=8.5, colors="#555555")


def _log_ticks(axis, fmt, limits: tuple[float, float]) -> None:
    """1-2-5 ticks on a narrow log range (decades alone leave one label), decades on a wide one."""
    lo, hi = limits
    decades = math.log10(hi / lo) if lo > 0 and hi > lo else 1
    subs = (1.0, 2.0, 5.0) if decades < 3 else (1.0,)
    axis.set_major_locator(LogLocator(base=10, subs=subs))
    axis.set_major_formatter(FuncFormatter(lambda v, _: fmt(v)))
    axis.set_minor_formatter(NullFormatter())


def _titles(fig: Figure, runs: list[RunData], data: list[dict[str, pd.DataFrame]]) -> None:
    meta = runs[0].meta
    task, model = meta.get("task") or "task", meta.get("model") or "model"
    fig.text(0.012, 0.965, f"Pareto front: {task} on {model}", fontsize=15, fontweight="bold", va="top")
    if len(runs) == 1:
        run, n = runs[0], runs[0].counts()
        parts = [f"strategy {run.meta.get('strategy') or run.name}", f"{n.get('complete', 0)} completed"]
        parts += [f"{n[k]} {word}" for k, word in (("failed", "failed"), ("running", "running"),
                                                     ("rejected", "rejected (over budget)"),
                                                     ("proxy", "proxy-scored by the supernet"),
                                                     ("confirm", "extra seeds confirming the top"),
                                                     ("final", "final trainings challenging the pick")) if n.get(k)]
        fidelity = f" at fidelity {run.final_fidelity}" if run.final_fidelity else ""
        parts.append(f"front of {len(data[0]['front'])}{fidelity}")
        sub = " · ".join(parts)
    else:
        sub = f"{len(runs)} runs compared, one front each: higher and further left is better"
    fig.text(0.012, 0.915, sub, fontsize=10, color="#555555", va="top")
