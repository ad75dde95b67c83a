"""The interactive (plotly) figures of report.html, drawn from the same data as the PNGs."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import pandas as pd

from autopeft.report.hypervolume import hypervolume_curve
from autopeft.report.pareto_plot import BASELINE_FACE, BUDGET_COLOUR, FRONT_COLOUR
from autopeft.report.run import RunData
from autopeft.report.style import RUN_COLOURS, fmt_count, fmt_pct

FONT = "system-ui, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"
_HOVER = ("<b>trial %{customdata[0]}</b> · %{customdata[1]}<br>%{customdata[2]}<br>"
          "score <b>%{y:.4f}</b>%{customdata[3]}<br>PEFT params %{customdata[4]} (%{customdata[5]})<br>"
          "fidelity %{customdata[6]} · strategy %{customdata[7]} · %{customdata[8]}<extra></extra>")


def hover_data(df: pd.DataFrame) -> list[list[str]]:
    """Per row, the fields `_HOVER` shows: trial, mix, configuration, test score, params, fidelity, ..."""
    rows = []
    for r in df.to_dict("records"):
        test = "" if pd.isna(r.get("test_score")) else f" · test {r['test_score']:.4f}"
        wall = "" if pd.isna(r.get("wall_s")) else f"{r['wall_s']:.0f} s"
        name = r["label"] if r.get("is_baseline") else r["mix"]
        rows.append([str(r["trial"]), str(name), str(r["config"]), test, f"{int(r['peft_params']):,}",
                     fmt_pct(r["peft_pct"]), str(r.get("fidelity") or ""), str(r.get("strategy") or ""), wall])
    return rows


def pareto_figure(runs: Sequence[RunData], data: Sequence[dict[str, pd.DataFrame]]) -> Any:
    """The Pareto plot with hover: trials by method mix (one run) or per run (several), fronts, baselines."""
    import plotly.graph_objects as go

    fig = go.Figure()
    single = len(runs) == 1
    for i, (run, d) in enumerate(zip(runs, data, strict=True)):
        colour = FRONT_COLOUR if single else RUN_COLOURS[i % len(RUN_COLOURS)]
        points = d["points"]
        groups = points.groupby("legend", sort=False) if single else [(run.name + " trials", points)]
        for legend, group in groups:
            fig.add_trace(go.Scatter(
                x=list(group["peft_pct"]), y=list(group["score"]), mode="markers", name=f"{legend} ({len(group)})",
                customdata=hover_data(group), hovertemplate=_HOVER,
                marker={"size": 8, "color": list(group["colour"]) if single else colour,
                        "opacity": 0.85 if single else 0.35, "line": {"width": 0.6, "color": "white"}},
            ))
        front, steps = d["front"], d["steps"]
        fig.add_trace(go.Scatter(
            x=list(front["peft_pct"]), y=list(front["score"]), mode="lines+markers", line_shape="hv",
            name="Pareto front" if single else f"{run.name}: front", customdata=hover_data(front),
            hovertemplate=_HOVER, line={"color": colour, "width": 2.2},
            marker={"size": 12, "color": "rgba(0,0,0,0)" if single else colour, "line": {"width": 2, "color": colour}},
        ))
        if len(steps) > len(front) * 2 - 1:  # the run from the last member to the budget
            fig.add_trace(go.Scatter(x=list(steps["x"].iloc[-2:]), y=list(steps["score"].iloc[-2:]), mode="lines",
                                     line={"color": colour, "width": 2.2}, hoverinfo="skip", showlegend=False))
    baselines = pd.concat([d["baselines"] for d in data]).drop_duplicates("label")
    if len(baselines):
        fig.add_trace(go.Scatter(
            x=list(baselines["peft_pct"]), y=list(baselines["score"]), mode="markers+text", name="baselines",
            text=list(baselines["label"]), textposition="top right", customdata=hover_data(baselines),
            hovertemplate=_HOVER, marker={"symbol": "star", "size": 17, "color": BASELINE_FACE,
                                          "line": {"width": 1, "color": "#1A1A1A"}},
        ))
    _budget_trace(fig, runs, data)
    backbone = runs[0].backbone_params
    fig.update_layout(
        template="plotly_white", height=620, font={"family": FONT, "size": 13}, hovermode="closest",
        margin={"l": 70, "r": 20, "t": 30, "b": 60}, legend={"font": {"size": 12}},
        hoverlabel={"bgcolor": "white", "font": {"family": FONT, "size": 12}},
        xaxis={"type": "log", "title": "PEFT parameters (% of the backbone, log scale)"
               + (f"; backbone {fmt_count(backbone)}" if backbone else ""), **_log_ticks(data)},
        yaxis={"title": f"{runs[0].metric} (held-out selection split)"},
    )
    return fig


def _log_ticks(data: Sequence[dict[str, pd.DataFrame]]) -> dict[str, Any]:
    """1-2-5 ticks labelled as percentages (plotly's own log ticks print bare digits)."""
    xs = [v for d in data for k in ("points", "baselines", "front") for v in d[k]["peft_pct"].dropna() if v > 0]
    if not xs:
        return {}
    lo, hi = math.floor(math.log10(min(xs))) - 1, math.ceil(math.log10(max(xs))) + 1
    vals = [m * 10.0**e for e in range(lo, hi + 1) for m in (1, 2, 5)]
    return {"tickvals": vals, "ticktext": [fmt_pct(v) for v in vals]}


def _budget_trace(fig: Any, runs: Sequence[RunData], data: Sequence[dict[str, pd.DataFrame]]) -> None:
    # a trace rather than a shape: shapes and annotations on log axes want log10 coordinates
    import plotly.graph_objects as go

    scores = [v for d in data for k in ("points", "baselines") for v in d[k]["score"].dropna()]
    if not scores:
        return
    lo, hi = min(scores), max(scores)
    for budget in sorted({r.budget_pct for r in runs if r.budget_pct}):
        fig.add_trace(go.Scatter(x=[budget, budget], y=[lo - 0.02, hi + 0.02], mode="lines",
                                 name=f"budget {fmt_pct(budget)}", hoverinfo="name",
                                 line={"color": BUDGET_COLOUR, "dash": "dash", "width": 1.6}))


def hypervolume_figure(runs: Sequence[RunData]) -> Any:
    """Hypervolume against wall time and against trials finished, one line per run."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.05,
                        subplot_titles=("against wall time", "against trials finished"))
    for i, run in enumerate(runs):
        curve = hypervolume_curve(run)
        curve = curve[curve["front_size"] > 0]
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        for col, x in ((1, "elapsed_min"), (2, "n_trials")):
            fig.add_trace(go.Scatter(
                x=list(curve[x]), y=list(curve["hypervolume"]), mode="lines+markers", line_shape="hv",
                name=run.name, legendgroup=run.name, showlegend=col == 1, line={"color": colour, "width": 2},
                marker={"size": 4}, customdata=list(zip(curve["trial"].astype(str), curve["front_size"], strict=True)),
                hovertemplate="after trial %{customdata[0]}: hypervolume %{y:.4f}, front of %{customdata[1]}"
                "<extra></extra>",
            ), row=1, col=col)
    fig.update_xaxes(title_text="minutes since the first trial began", row=1, col=1)
    fig.update_xaxes(title_text="trials finished", row=1, col=2)
    fig.update_yaxes(title_text="hypervolume", row=1, col=1)
    fig.update_layout(template="plotly_white", height=400, font={"family": FONT, "size": 13},
                      margin={"l": 70, "r": 20, "t": 40, "b": 60}, showlegend=len(runs) > 1)
    return fig
