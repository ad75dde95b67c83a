"""`pareto.png`: score against PEFT parameters, every trial, the front, the baselines, the budget.

`pareto_data` returns the DataFrames the plot is drawn from (tests check them against front.csv);
`write_pareto_png` is the cheap call a running search makes for `--plot-every`."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from autopeft.pareto import front_steps
from autopeft.report.backbone import method_shares
from autopeft.report.mix import METHOD_COLOURS, MIX_COLOURS, OTHER_COLOUR, OTHER_LABEL, SHORT_NAMES, mix_colours
from autopeft.report.pareto_plot import draw_pareto
from autopeft.report.run import RunData, load_run
from autopeft.report.style import new_figure, save_png, style


def pareto_data(run: RunData) -> dict[str, pd.DataFrame]:
    """The data behind the Pareto plot: `points` (searched trials, with `colour` and `legend`), `front`,
    `steps` (the front's step line, to the budget) and `baselines`."""
    points = _with_pct(run.searched, run.backbone_params)
    if colour_by_mix(points):
        colours = mix_colours(points["methods"])
        points["colour"] = [colours.get(m, OTHER_COLOUR) for m in points["methods"]]
        points["legend"] = [
            mix if colours.get(m, OTHER_COLOUR) != OTHER_COLOUR else OTHER_LABEL
            for m, mix in zip(points["methods"], points["mix"], strict=True)
        ]
    else:  # too many mixes to tell apart by colour: colour by the method holding most parameters
        main = [_main_method(c, run.dims) for c in points["candidate"]]
        points["colour"] = [METHOD_COLOURS.get(m, OTHER_COLOUR) for m in main]
        points["legend"] = [f"mostly {SHORT_NAMES.get(m, m)}" for m in main]
    final = run.final_fidelity
    points["final"] = points["fidelity"].astype(str).eq(final) if final is not None else True
    front = _with_pct(run.front, run.backbone_params)
    return {
        "points": points,
        "front": front,
        "steps": front_steps(front, "peft_pct", right=run.budget_pct),
        "baselines": _with_pct(run.baselines, run.backbone_params),
    }


def plot_pareto(runs: Sequence[RunData], path: Path) -> Path:
    """Draw one run's trials coloured by method mix, or several runs' fronts side by side, to `path`."""
    with style():
        fig = new_figure(11.5, 6.4)
        draw_pareto(fig, list(runs), [pareto_data(r) for r in runs])
        return save_png(fig, path)


def colour_by_mix(points: pd.DataFrame) -> bool:
    """Whether each mix of methods can have its own colour (few mixes), or colours go by main method."""
    multi = {m for m in points["methods"] if len(m) > 1}
    return len(multi) <= len(MIX_COLOURS)


def _main_method(candidate: object, dims: object) -> str:
    shares = method_shares(candidate, dims)
    return max(shares, key=lambda m: shares[m]) if shares else "?"


def write_pareto_png(run_dir: str | Path, out: str | Path | None = None) -> Path:
    """Refresh `RUN_DIR/report/pareto.png` (or `out`) from the run's current files; returns the path."""
    run = load_run(run_dir)
    path = Path(out) if out is not None else Path(run_dir) / "report" / "pareto.png"
    return plot_pareto([run], path)


def _with_pct(df: pd.DataFrame, backbone: int | None) -> pd.DataFrame:
    """A copy with peft_pct filled from peft_params where the record left it empty."""
    df = df.copy()
    if backbone and df["peft_pct"].isna().any():
        df["peft_pct"] = df["peft_pct"].fillna(df["peft_params"] * 100.0 / backbone)
    return df[df["peft_pct"].fillna(0) > 0] if len(df) else df
