"""The README's tables from the committed CSVs: the trainer-speed table (results_run*.csv: per
configuration the minimum and median s/step over every round, the speed-up against static128 with
dropout, the RSS rise; then, per round, which configuration was fastest and the default's speed-up
within that round) and the learning-rate sweep (lr_sweep_gpu.csv: mean dev accuracy over seeds).

    .venv/bin/python experiments/train_speed/summarise.py
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
BASE, DEFAULT = "static128+dropout", "dynamic+grouped (default)"


def speed() -> None:
    runs = [pd.read_csv(p).assign(run=p.stem) for p in sorted(HERE.glob("results_run*.csv"))]
    df = pd.concat(runs, ignore_index=True)
    order = list(dict.fromkeys(df["config"]))
    g = df.groupby("config")
    table = pd.DataFrame({"samples": g.size(), "mean_padded_len": g["mean_batch_len"].mean().round(0),
                          "s_per_step_min": g["s_per_step"].min(), "s_per_step_median": g["s_per_step"].median(),
                          "rss_rise_mb_median": g["peak_rss_rise_mb"].median(),
                          "rss_rise_mb_max": g["peak_rss_rise_mb"].max()}).reindex(order)
    table["speedup_min_vs_base"] = (table.loc[BASE, "s_per_step_min"] / table["s_per_step_min"]).round(1)
    print(table.round(2).to_string(), "\n")
    rounds = []
    for (run, rnd), r in df.groupby(["run", "round"]):
        r = r.set_index("config")
        rounds.append({"run": run, "round": rnd, "load_avg_1m": f"{r['load_avg_1m'].min()}-{r['load_avg_1m'].max()}",
                       "fastest": r["s_per_step"].idxmin(), "fastest_s": r["s_per_step"].min(),
                       "default_s": r.loc[DEFAULT, "s_per_step"],
                       "default_speedup_vs_base": round(r.loc[BASE, "s_per_step"] / r.loc[DEFAULT, "s_per_step"], 1)})
    rounds = pd.DataFrame(rounds)
    print(rounds.to_string(index=False))
    print(f"\nthe default was fastest in {(rounds['fastest'] == DEFAULT).sum()} of {len(rounds)} rounds\n")


def rates() -> None:
    df = pd.read_csv(HERE / "lr_sweep_gpu.csv")
    df = df[df["status"] == "ok"]
    mean = df.groupby(["method", "head_lr", "steps", "lr"])["accuracy"].agg(["mean", "count"]).round(3)
    print(mean.to_string())


if __name__ == "__main__":
    speed()
    rates()
