"""cpu_start/: put seed 0 of `mobo:start=stratified` into results.csv and compare the starts per seed.

Seed 0 of the stratified start is not a run.py search but the default search from a fresh clone
(`autopeft search --task tweet_sentiment`, when `start="stratified"` was `mobo`'s default), whose
files are committed as cpu_start/mobo_stratified_seed0_{trials.csv,run.json,trial_times.csv}.
This turns them into run.py's rows (hypervolume and trial time per trial from trials.csv; the
search's wall time from run.json; the time to the last trial from run.json's start to the last
trial's end in trial_times.csv), replaces any seed-0 rows of that strategy in results.csv, and
prints the final hypervolume per seed and strategy, the means and a paired t-test. Then
`run.py --summarise-only --out experiments/search_auto_vs_mobo/cpu_start` redoes summary.csv.

    .venv/bin/python experiments/search_auto_vs_mobo/cpu_start_join.py
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pandas as pd
from scipy.stats import ttest_rel

DIR = Path(__file__).resolve().parent / "cpu_start"
STRATIFIED, MAXMIN = "mobo:start=stratified", "mobo:start=maxmin"


def seed0_rows() -> pd.DataFrame:
    """run.py's rows for the default search's run (seed 0)."""
    trials = pd.read_csv(DIR / "mobo_stratified_seed0_trials.csv")
    info = json.loads((DIR / "mobo_stratified_seed0_run.json").read_text())
    times = pd.read_csv(DIR / "mobo_stratified_seed0_trial_times.csv", parse_dates=["completed"])
    rows = trials[(trials["kind"] == "search") & trials["state"].isin(["complete", "failed"])]
    to_last = (times["completed"].max() - datetime.fromisoformat(info["started"])).total_seconds()
    return pd.DataFrame({"strategy": STRATIFIED, "seed": info["seed"], "trial": range(1, len(rows) + 1),
                         "hypervolume": rows["hypervolume"].astype(float).tolist(),
                         "score": rows["score"].astype(float).tolist(),
                         "peft_params": rows["peft_params"].astype(float).tolist(),
                         "trial_wall_s": rows["wall_s"].astype(float).tolist(),
                         "search_wall_s": float(info["wall_s"]), "to_last_trial_s": round(to_last, 1),
                         "proxies": 0, "model": info["model"], "fidelity": info["fidelity"]})


def main() -> None:
    results = pd.read_csv(DIR / "results.csv")
    new = seed0_rows()
    keep = ~((results["strategy"] == STRATIFIED) & (results["seed"] == new["seed"].iloc[0]))
    results = pd.concat([results[keep], new], ignore_index=True).sort_values(["strategy", "seed", "trial"])
    results.to_csv(DIR / "results.csv", index=False)
    last = results[results["trial"] == results.groupby(["strategy", "seed"])["trial"].transform("max")]
    final = last.pivot(index="seed", columns="strategy", values="hypervolume")
    print(final.round(4).to_string())
    print("mean", final.mean().round(4).to_dict())
    print("stratified ahead on", int((final[STRATIFIED] > final[MAXMIN]).sum()), "of", len(final), "seeds;",
          f"paired t-test p = {ttest_rel(final[STRATIFIED], final[MAXMIN]).pvalue:.3f}")
    print("to last trial (s)", last.pivot(index="seed", columns="strategy", values="to_last_trial_s").to_dict())


if __name__ == "__main__":
    main()
