"""`auto` (supernet screening + proxy-aware BO) against `mobo` (BO alone) on a real task.

Each search trains its candidates for real (MiniLM / tweet_sentiment, `full` space, 0.5% budget
by default); for every strategy and seed this records the hypervolume after each trained trial
and the search's wall time (supernet and proxies included), then writes results.csv,
summary.csv and hypervolume.png here.

    .venv/bin/python experiments/search_auto_vs_mobo/run.py --trials 10 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import shutil
import tempfile
import time
from datetime import datetime
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def variant(label: str) -> tuple[str, dict[str, object]]:
    """A strategy and its options from a label: `auto`, or `auto:multitask=0` (an int
    where the value is one)."""
    name, *pairs = label.split(":")
    options: dict[str, object] = {}
    for pair in pairs:
        key, value = pair.split("=", 1)
        options[key] = int(value) if value.lstrip("-").isdigit() else value
    return name, options


def one(args: argparse.Namespace, label: str, seed: int, work: Path) -> pd.DataFrame:
    """Hypervolume after each trained trial of one search."""
    from autopeft.search.api import search

    strategy, options = variant(label)
    t0, started = time.perf_counter(), datetime.now()
    run_dir = work / f"{label.replace(':', '_')}-{seed}"
    # weights kept for the front (the CLI's default), so scoring it on test is an evaluation, not a retraining
    res = search(args.task, budget=args.budget, model=args.model, space=args.space, strategy=strategy,
                 trials=args.trials, fidelity=args.fidelity, seed=seed, out=run_dir, strategy_options=options)
    wall = time.perf_counter() - t0
    t = res.trials
    rows = t[(t["kind"] == "search") & t["state"].isin(["complete", "failed"])]
    proxies = int((t["kind"] == "proxy").sum())
    return pd.DataFrame({"strategy": label, "seed": seed, "trial": range(1, len(rows) + 1),
                         "hypervolume": rows["hypervolume"].astype(float).tolist(),
                         "score": rows["score"].astype(float).tolist(),
                         "peft_params": rows["peft_params"].astype(float).tolist(),
                         "trial_wall_s": rows["wall_s"].astype(float).tolist(),
                         "search_wall_s": round(wall, 1), "to_last_trial_s": round(to_last_trial(run_dir, started), 1),
                         "proxies": proxies, "model": args.model,
                         "fidelity": args.fidelity})


def to_last_trial(run_dir: Path, started: datetime) -> float:
    """Seconds from the search's start to its last standalone trial's end (before the front's test scoring)."""
    import optuna

    from autopeft.search import record

    study = optuna.load_study(study_name=record.STUDY, storage=f"sqlite:///{run_dir / 'study.db'}")
    ends = [t.datetime_complete for t in study.get_trials(deepcopy=False) if t.datetime_complete]
    return (max(ends) - started).total_seconds() if ends else float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--task", default="tweet_sentiment")
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--space", default="full")
    ap.add_argument("--budget", default="0.5%")
    ap.add_argument("--fidelity", default="quick")
    ap.add_argument("--trials", type=int, default=10)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--strategies", nargs="+", default=["auto", "mobo"],
                    help="strategies, each optionally with options: auto:multitask=0")
    ap.add_argument("--out", type=Path, default=HERE)
    ap.add_argument("--summarise-only", action="store_true", help="redo summary.csv and the plot from results.csv")
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    if args.summarise_only:
        write_outputs(pd.read_csv(args.out / "results.csv"), args)
        return
    work = Path(tempfile.mkdtemp(prefix="auto-vs-mobo-"))
    frames = []
    for seed in args.seeds:
        for strategy in args.strategies:
            frames.append(one(args, strategy, seed, work))
            last = frames[-1].iloc[-1]
            print(f"{strategy} seed {seed}: hypervolume {last.hypervolume:.4f} in {last.search_wall_s:.0f}s "
                  f"({last.proxies} proxies)", flush=True)
            pd.concat(frames, ignore_index=True).to_csv(args.out / "results.csv", index=False)
    write_outputs(pd.concat(frames, ignore_index=True), args)
    shutil.rmtree(work, ignore_errors=True)


def write_outputs(df: pd.DataFrame, args: argparse.Namespace) -> None:
    """summary.csv (final hypervolume and wall time per strategy) and hypervolume.png."""
    final = df[df.trial == df.groupby(["strategy", "seed"]).trial.transform("max")]
    hv = final.pivot(index="seed", columns="strategy", values="hypervolume")
    wall = final.pivot(index="seed", columns="strategy", values="search_wall_s")
    summary = pd.DataFrame({"hv_mean": hv.mean(), "hv_std": hv.std(), "seeds": hv.count(),
                            "search_wall_s_mean": wall.mean(),
                            **({"to_last_trial_s_mean": final.pivot(index="seed", columns="strategy",
                                                                    values="to_last_trial_s").mean()}
                               if "to_last_trial_s" in final else {}),
                            "trial_wall_s_sum_mean": df.groupby(["strategy", "seed"]).trial_wall_s.sum()
                            .groupby("strategy").mean()})
    for k in (1, 3, 5):  # how soon each reaches its front (mean over seeds)
        summary[f"hv_at_trial_{k}"] = df[df.trial == k].groupby("strategy").hypervolume.mean()
    if "mobo" in hv and len(hv) > 1:
        from scipy.stats import ttest_rel

        summary["wins_vs_mobo"] = hv.gt(hv["mobo"], axis=0).sum()
        summary["paired_t_p_vs_mobo"] = [
            float("nan") if s == "mobo" or hv[[s, "mobo"]].dropna().shape[0] < 2
            else ttest_rel(*hv[[s, "mobo"]].dropna().T.to_numpy()).pvalue for s in hv.columns]
    summary.round(4).to_csv(args.out / "summary.csv")
    print(summary.round(4).to_string(), flush=True)
    model = Path(str(df.model.iloc[0])).name  # a checkpoint directory is shown by its name
    plot(df, args.out / "hypervolume.png", f"{model} / {args.task}, {args.space}, {args.budget}, {df.fidelity.iloc[0]}")


def plot(df: pd.DataFrame, path: Path, title: str) -> None:
    """Mean hypervolume (band: min-max over seeds) against trained trials."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4), dpi=130)
    for strategy, g in df.groupby("strategy"):
        stats = g.groupby("trial")["hypervolume"].agg(["mean", "min", "max"])
        ax.plot(stats.index, stats["mean"], label=strategy)
        ax.fill_between(stats.index, stats["min"], stats["max"], alpha=0.15)
    ax.set_xlabel("trained (standalone) trials")
    ax.set_ylabel("hypervolume")
    ax.set_title(title, fontsize=9)
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


if __name__ == "__main__":
    main()
