"""Concatenate results.csv files of separate run.py calls into one (a device call that timed out,
a run stopped after some seeds), optionally relabelling a strategy or keeping some of its rows:

    merge.py OUT_DIR SRC[:STRATEGY[=LABEL][@SEEDS]] ...

e.g. `cpu_v2/results.csv:mobo@0` keeps seed 0 of `mobo` from cpu_v2, `x/results.csv:auto=auto-old`
relabels `auto`. Then `run.py --summarise-only --out OUT_DIR` writes summary.csv and the plot.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pandas as pd


def part(spec: str) -> pd.DataFrame:
    """The rows one SRC spec selects."""
    path, _, sel = spec.partition(":")
    df = pd.read_csv(path)
    if not sel:
        return df
    sel, _, seeds = sel.partition("@")
    strategy, _, label = sel.partition("=")
    df = df[df["strategy"] == strategy].copy()
    if seeds:
        df = df[df["seed"].isin([int(s) for s in seeds.split(",")])]
    if label:
        df["strategy"] = label
    return df


def main(out: str, *specs: str) -> None:
    frames = [part(s) for s in specs]
    Path(out).mkdir(parents=True, exist_ok=True)
    merged = pd.concat(frames, ignore_index=True)
    merged.to_csv(Path(out) / "results.csv", index=False)
    print(merged.groupby(["strategy", "seed"]).hypervolume.last().round(4).to_string())


if __name__ == "__main__":
    main(*sys.argv[1:])
