"""mobo vs random (and Optuna's TPE / NSGA-II) on the synthetic objective, over seeds.

The objective is `autopeft.search.evaluator.SyntheticEvaluator` (a known function of the
candidate, no training) on the `full` space of MiniLM at a 0.5% budget, so the comparison
isolates the strategies. Writes results.csv (hypervolume after every trial, and each search's
wall time), summary.csv (final hypervolume per strategy: mean, std, paired wins vs random; mean
wall time over seeds) and hypervolume.png.

    .venv/bin/python experiments/search_mobo_vs_random/run.py --trials 20 --seeds 0 1 2 --strategies random mobo
    .venv/bin/python experiments/search_mobo_vs_random/run.py --summarise-only   # summary.csv from results.csv
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from pathlib import Path

import pandas as pd

from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator

HERE = Path(__file__).parent


def one(strategy: str, seed: int, trials: int, space: str, work: Path) -> pd.DataFrame:
    """Hypervolume after each trained trial of one search."""
    out = work / f"{strategy}-{seed}"
    t0 = time.perf_counter()
    res = search("tweet_sentiment", budget="0.5%", space=space, strategy=strategy, trials=trials, seed=seed,
                 out=out, evaluator=SyntheticEvaluator(noise=0.01, seed=seed), keep_weights="none")
    wall = time.perf_counter() - t0
    rows = res.trials[(res.trials["kind"] == "search") & res.trials["state"].isin(["complete", "failed"])]
    hv = rows["hypervolume"].astype(float).tolist()
    return pd.DataFrame({"strategy": strategy, "seed": seed, "trial": range(1, len(hv) + 1), "hypervolume": hv,
                         "wall_s": wall, "proposals": len(res.trials)})


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trials", type=int, default=24)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3])
    ap.add_argument("--strategies", nargs="+", default=["random", "tpe", "nsga2", "mobo"])
    ap.add_argument("--space", default="full")
    ap.add_argument("--summarise-only", action="store_true", help="redo summary.csv from the committed results.csv")
    args = ap.parse_args()
    if args.summarise_only:
        summarise(pd.read_csv(HERE / "results.csv"))
        return
    work = Path(tempfile.mkdtemp(prefix="mobo-vs-random-"))
    frames = []
    for seed in args.seeds:
        for strategy in args.strategies:
            frames.append(one(strategy, seed, args.trials, args.space, work))
            print(strategy, seed, f"{frames[-1]['hypervolume'].iloc[-1]:.4f}", flush=True)
    df = pd.concat(frames, ignore_index=True)
    df.to_csv(HERE / "results.csv", index=False)
    summarise(df)
    plot(df)
    shutil.rmtree(work, ignore_errors=True)


def summarise(df: pd.DataFrame) -> None:
    """summary.csv: final hypervolume per strategy over seeds, paired against random, and the mean of
    the searches' wall times (one value per strategy and seed, repeated on each of its rows)."""
    last = df[df["trial"] == df.groupby(["strategy", "seed"])["trial"].transform("max")]
    final = last.pivot(index="seed", columns="strategy", values="hypervolume")
    wall = last.pivot(index="seed", columns="strategy", values="wall_s")
    summary = pd.DataFrame({"hv_mean": final.mean(), "hv_std": final.std(),
                            "wins_vs_random": (final.gt(final["random"], axis=0)).sum(),
                            "seeds": len(final),
                            "wall_s_mean": wall.mean()})
    if len(final) > 1:
        from scipy.stats import ttest_rel

        summary["paired_t_p_vs_random"] = [float("nan") if s == "random" else
                                           ttest_rel(final[s], final["random"]).pvalue for s in final.columns]
    summary.round(4).to_csv(HERE / "summary.csv")
    print(summary.round(4).to_string())


def plot(df: pd.DataFrame) -> None:
    """Mean hypervolume (band: min-max over seeds) against trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for strategy, g in df.groupby("strategy"):
        stats = g.groupby("trial")["hypervolume"].agg(["mean", "min", "max"])
        ax.plot(stats.index, stats["mean"], label=strategy)
        ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.15)
    ax.set_xlabel("trained trials")
    ax.set_ylabel("hypervolume (score above chance × budget fraction)")
    ax.set_title("synthetic objective, full space, MiniLM, 0.5% budget")
    ax.legend()
    fig.tight_layout()
    fig.savefig(HERE / "hypervolume.png", dpi=120)


if __name__ == "__main__":
    main()
