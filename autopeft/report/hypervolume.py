"""`hypervolume.png`: how the front improved, against wall time and against trials finished."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from autopeft.pareto import front_hypervolume, pareto_front
from autopeft.report.run import RunData
from autopeft.report.style import RUN_COLOURS, new_figure, save_png, style

FINISH_COLUMNS = ("finished", "finished_at", "datetime_complete", "completed_at", "end")
START_COLUMNS = ("started", "started_at", "datetime_start", "start")
_DONE = ("complete", "failed")  # trained; rejected/duplicate/interrupted take no trial


def hypervolume_curve(run: RunData) -> pd.DataFrame:
    """Hypervolume after each finished trial: columns `trial, n_trials, elapsed_min, hypervolume, front_size`.

    Time is wall-clock since the first trial began when the trials carry timestamps (a resumed run
    shows its pause as a flat stretch), else the trials' summed wall_s."""
    # search trials only: --trials counts them, and baselines never enter the front
    done = run.trials[run.trials["state"].isin(_DONE) & ~run.trials["is_baseline"]].copy()
    cols = ["trial", "n_trials", "elapsed_min", "hypervolume", "front_size"]
    if done.empty or run.ref_score is None:
        return pd.DataFrame(columns=cols)
    finish = _timestamps(done, FINISH_COLUMNS)
    if finish is not None and finish.notna().all():
        start = _timestamps(done, START_COLUMNS)
        if start is None or start.isna().any():
            start = finish - pd.to_timedelta(done["wall_s"].fillna(0), unit="s")
        done["_t"] = (finish - start.min()).dt.total_seconds()
        done = done.sort_values(["_t", "seq"])
        clock = "wall time since the first trial began (minutes)"
    else:
        done = done.sort_values("seq")
        done["_t"] = done["wall_s"].fillna(0).cumsum()
        clock = "summed trial time (minutes; the record has no timestamps)"
    budget = run.budget_params or float(run.completed["peft_params"].max())
    eligible = (done["state"] == "complete") & done["score"].notna()
    if run.final_fidelity is not None:
        eligible &= done["fidelity"].astype(str) == run.final_fidelity
    rows, pool = [], []
    for n, (idx, row) in enumerate(done.iterrows(), start=1):
        if eligible[idx]:
            pool.append(row)
        front = pareto_front(pd.DataFrame(pool)) if pool else done.iloc[:0]
        hv = front_hypervolume(front, run.ref_score, budget) if pool else 0.0
        rows.append((row["trial"], n, row["_t"] / 60, hv, len(front)))
    curve = pd.DataFrame(rows, columns=cols)
    curve.attrs["clock"] = clock  # what elapsed_min measures, for the axis label
    return curve


def plot_hypervolume(runs: Sequence[RunData], path: Path) -> Path:
    """Draw hypervolume against wall time (left) and trials finished (right) for each run."""
    with style():
        return _plot(runs, path)


def _plot(runs: Sequence[RunData], path: Path) -> Path:
    fig = new_figure(12, 4.8)
    by_time, by_count = fig.subplots(1, 2, sharey=True)
    drawn, clock = 0, "wall time since the first trial began (minutes)"
    for i, run in enumerate(runs):
        curve = hypervolume_curve(run)
        clock = curve.attrs.get("clock", clock)
        if curve.empty:
            continue
        colour = RUN_COLOURS[i % len(RUN_COLOURS)]
        label = run.name if len(runs) > 1 else None
        # from the first front on: the zeros before it would flatten the part worth reading
        shown = curve[curve["front_size"] > 0]
        if shown.empty:
            continue
        for ax, x in ((by_time, "elapsed_min"), (by_count, "n_trials")):
            xs = list(shown[x]) + [curve[x].iloc[-1]]
            ys = list(shown["hypervolume"]) + [shown["hypervolume"].iloc[-1]]
            ax.step(xs, ys, where="post", color=colour, lw=2, label=label)
            ax.plot(shown[x].iloc[:1], shown["hypervolume"].iloc[:1], "o", color=colour, ms=5)
            ax.annotate(f"{ys[-1]:.3f}", (xs[-1], ys[-1]), xytext=(3, 4), textcoords="offset points",
                        fontsize=8.5, color=colour, ha="right", va="bottom")
        drawn += 1
    ref = runs[0]
    budget = f"{ref.budget_pct:.3g}% of the backbone" if ref.budget_pct else "the largest trial"
    ref_txt = f"{ref.ref_score:.3f}" if ref.ref_score is not None else "n/a"
    fig.suptitle("Hypervolume of the Pareto front", fontsize=14, fontweight="bold", x=0.01, ha="left")
    fig.text(0.01, 0.905, f"reference point: {ref.metric} {ref_txt}, budget {budget}; "
             "parameter axis as a fraction of the budget", fontsize=9.5, color="#555555", ha="left")
    by_time.set_xlabel(clock)
    by_count.set_xlabel("trials finished")
    by_time.set_ylabel(f"hypervolume ({ref.metric} × share of budget)")
    for ax in (by_time, by_count):
        ax.set_xlim(left=0)
        ax.margins(y=0.12)
    by_count.xaxis.get_major_locator().set_params(integer=True)
    if drawn > 1:
        by_count.legend(loc="lower right", frameon=False)
    if not drawn:
        by_time.text(0.5, 0.5, "no finished trial yet", transform=by_time.transAxes, ha="center", color="#777777")
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.12, top=0.84, wspace=0.06)
    return save_png(fig, path)


def _timestamps(df: pd.DataFrame, names: Sequence[str]) -> pd.Series | None:
    for name in names:
        if name in df:
            col = df[name]
            if pd.api.types.is_numeric_dtype(col):  # epoch seconds
                return pd.to_datetime(col, unit="s", errors="coerce", utc=True)
            return pd.to_datetime(col, errors="coerce", utc=True, format="ISO8601")
    return None
