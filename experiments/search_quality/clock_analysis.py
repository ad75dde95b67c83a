"""The strategies at equal time (run.py's clock phase): each search's dev hypervolume against its own
clock, the machines the seeds ran on, and the plot (analyse.py writes them)."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

REFERENCE_LIMIT_S = 600.0  # run.py's CLOCK_LIMIT on the reference machine


def clock_curves(base: Path, step_s: float = 10.0) -> pd.DataFrame:
    """Hypervolume against time for each clock run (one row per run and time step): the front of the
    final-fidelity trials completed by then; time on the search's clock from its start (CPU time with
    `--clock cpu`; wall time from run.json's start for older runs), so the optimiser's, the
    supernet's and the proxies' time all count."""
    from autopeft.pareto import hypervolume
    from autopeft.search.settings import parse_duration

    rows = []
    for run in sorted((base / "clock").glob("*-s*")):
        if not (run / "timeline.csv").is_file() or not (run / "run.json").is_file():
            continue
        info = json.loads((run / "run.json").read_text())
        if info.get("status") != "finished":
            continue
        # run.py scales the limit by the machine's speed (CLOCK_REFERENCE_S): its time goes back on the
        # reference machine's scale, where every limit is 10 minutes
        limit = parse_duration(info["settings"]["time_limit"])
        scale = limit / REFERENCE_LIMIT_S
        start = pd.Timestamp(info["started"])
        tl = pd.read_csv(run / "timeline.csv")
        tl = tl[(tl["kind"] == "search") & (tl["state"] == "complete")]
        trials = pd.read_csv(run / "trials.csv")
        trials = trials[(trials["kind"] == "search") & (trials["state"] == "complete")
                        & (trials["fidelity"] == info["fidelity"])]
        trials["trial"] = trials["trial"].astype(int)
        if "elapsed_s" in tl and tl["elapsed_s"].notna().all():  # the search's own clock (--clock cpu)
            done = trials.merge(tl[["trial", "elapsed_s"]], on="trial").rename(columns={"elapsed_s": "t"})
        else:  # runs from before --clock: wall time since run.json's start
            done = trials.merge(tl[["trial", "complete"]], on="trial")
            done["t"] = (pd.to_datetime(done["complete"]) - start).dt.total_seconds()
        done["t"] = done["t"] / scale
        strategy, seed = run.name.rsplit("-s", 1)
        ref, budget = info["reference_point"]["score"], info["budget"]["peft_params"]
        for t in [step_s * i for i in range(int(REFERENCE_LIMIT_S // step_s) + 1)]:
            now = done[done["t"] <= t]
            hv = hypervolume(now["score"], now["peft_params"], ref, budget) if len(now) else 0.0
            rows.append({"strategy": strategy, "seed": int(seed), "t_s": t, "trials": len(now), "hypervolume": hv})
    return pd.DataFrame(rows)


def clock_machines(clock: Path) -> pd.DataFrame:
    """Each clock run's machine and pace (one row per run, the calibration runs included): the CPU
    seconds of its first trial (`warm`'s and the calibration's: `lora-r8` at `quick`, run.py's
    CLOCK_REFERENCE_S is the mean of the first three `warm` seeds') and its median per trial (from the
    search's own clock, timeline.csv's `elapsed_s`; a supernet's start counts in its first trial)."""
    rows = []
    for run in sorted([*clock.glob("*-s*"), *clock.glob("calibration/*")]):
        if not (run / "timeline.csv").is_file() or not (run / "run.json").is_file():
            continue
        info = json.loads((run / "run.json").read_text())
        tl = pd.read_csv(run / "timeline.csv")
        tl = tl[(tl["kind"] == "search") & (tl["state"] == "complete")]
        if "elapsed_s" not in tl or tl["elapsed_s"].isna().any() or not len(tl):
            continue  # a wall-clock run: no CPU pace
        elapsed = tl["elapsed_s"].sort_values().reset_index(drop=True)
        per_trial = elapsed.diff().fillna(elapsed.iloc[0])
        machine = info.get("machine") or {}
        rows.append({"run": str(run.relative_to(clock)), "machine": machine.get("cpu", "not recorded"),
                     "speed_flags": " ".join(machine.get("flags", [])) if machine else "",
                     "time_limit": info["settings"].get("time_limit"), "trials": len(tl),
                     "first_trial_cpu_s": round(float(elapsed.iloc[0]), 1),
                     "median_trial_cpu_s": round(float(per_trial.median()), 1)})
    return pd.DataFrame(rows)


def clock_png(curves: pd.DataFrame, out: Path, title: str) -> None:
    """Mean hypervolume against time per strategy, the band from the lowest to the highest seed."""
    from autopeft.report.style import RUN_COLOURS, new_figure, save_png, style

    with style():
        fig = new_figure(8, 5)
        ax = fig.add_subplot(1, 1, 1)
        for i, (strategy, g) in enumerate(curves.groupby("strategy", sort=False)):
            agg = g.groupby("t_s")["hypervolume"].agg(["mean", "min", "max"])
            n = g["seed"].nunique()
            colour = RUN_COLOURS[i % len(RUN_COLOURS)]
            ax.plot(agg.index / 60, agg["mean"], color=colour, label=f"{strategy} ({n} seeds)")
            ax.fill_between(agg.index / 60, agg["min"], agg["max"], color=colour, alpha=0.15)
        ax.set_xlabel("CPU time of one thread on the reference machine (minutes, the strategy's own time included)")
        ax.set_ylabel("hypervolume (dev score at quick)")
        ax.set_title(title)
        ax.legend(loc="lower right")
        save_png(fig, out)
