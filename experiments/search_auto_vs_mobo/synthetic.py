"""`auto` (its multi-task GP), `auto-trials-gp` (`multitask=False`) and `mobo` on the synthetic
objective (search/evaluator.py: a smooth score of the candidate plus noise; the proxy is that
score plus more noise). Cheap and device-free: a check that a change to `auto` helps where the
answer is known, not evidence about real tasks. Writes synthetic.csv (hypervolume after each
trial, per strategy and seed) and prints the mean by trial.

    .venv/bin/python experiments/search_auto_vs_mobo/synthetic.py
"""

from __future__ import annotations

import tempfile
import warnings
from pathlib import Path

import pandas as pd

from autopeft.search.api import search
from autopeft.search.evaluator import SyntheticEvaluator

HERE = Path(__file__).resolve().parent
VARIANTS = {"mobo": ("mobo", {}), "auto": ("auto", {}), "auto-trials-gp": ("auto", {"multitask": False})}


def main(seeds: int = 5, trials: int = 10) -> None:
    warnings.filterwarnings("ignore")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in range(seeds):
            for label, (strategy, options) in VARIANTS.items():
                res = search("tweet_sentiment", budget="0.5%", space="full", strategy=strategy, trials=trials,
                             seed=seed, fidelity="quick", out=Path(tmp) / f"{label}-{seed}",
                             evaluator=SyntheticEvaluator(noise=0.005, seed=seed), keep_weights="none",
                             strategy_options=options)
                done = res.trials[res.trials["kind"] == "search"]
                rows += [{"strategy": label, "seed": seed, "trial": i + 1, "hypervolume": float(hv)}
                         for i, hv in enumerate(done["hypervolume"])]
                print(f"{label} seed {seed}: {float(done['hypervolume'].iloc[-1]):.4f}", flush=True)
    df = pd.DataFrame(rows)
    df.to_csv(HERE / "synthetic.csv", index=False)
    print(df.pivot_table(index="strategy", columns="trial", values="hypervolume").round(3).to_string())


if __name__ == "__main__":
    main()
