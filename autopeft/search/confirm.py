"""`--confirm N`: the pick made on more than one training.

A search ranks its trials by one training's dev score, and its top trials bunch within a few dev
examples, where the training seed alone moves a score by as much (experiments/search_quality: on
MNIST-5k's 200 dev images the structured search's seed 0 picked LoRA r=1 over (IA)³, tied at 0.59
after 100 steps, and it retrained 0.055 lower). Once the search ends, its top N trials by dev score
(its own order: score, then fewer parameters, then the lower dev loss) are trained at the search's
fidelity on `len(SEED_OFFSETS)` more seeds each, and the best mean of the three is the search's pick
(`export --best`, export/rundir.best). Confirmations are trials of their own study (`kind`
"confirm" in trials.csv, labelled `c<n>`, `confirms` naming the trial); they count towards neither
`--trials` nor the front, whose hypervolume stays that of single trainings (comparable with a search
without them). The cost is N x 2 trainings after the search: 6 with N = 3, 60% of the default
search's 10 trials.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd

from autopeft.methods.candidate import Candidate

# the extra seeds, from the search's: distinct from every trial's own (all train with the search's seed)
SEED_OFFSETS = (1000, 2000)


def top(df: pd.DataFrame, fidelity: str, n: int) -> pd.DataFrame:
    """The search's `n` best completed trials at its fidelity, in its pick's order (rundir.best_of)."""
    done = df[(df["kind"] == "search") & (df["state"] == "complete") & (df["fidelity"] == fidelity)]
    done = done.dropna(subset=["score"]).assign(_loss=done["dev_loss"].astype(float).fillna(float("inf")))
    done = done.sort_values(["score", "peft_params", "_loss", "trial"], ascending=[False, True, True, True])
    return done.drop(columns="_loss").head(n)


def missing(df: pd.DataFrame, fidelity: str, n: int, seed: int) -> Iterator[tuple[int, Candidate, str | None, int]]:
    """(trial, candidate, recipe, seed) of each confirmation of the top `n` not yet trained (a failed
    one is not tried again: it stays out of the mean)."""
    tried = set()
    rows = df[df["kind"] == "confirm"]
    for r in rows[rows["state"].isin(("complete", "failed", "running"))].itertuples():
        tried.add((int(r.confirms), int(r.seed)))
    for r in top(df, fidelity, n).itertuples():
        for extra in (seed + offset for offset in SEED_OFFSETS):
            if (int(r.trial), extra) not in tried:
                yield int(r.trial), Candidate.from_json(r.candidate), r.recipe or None, extra


def confirmed(df: pd.DataFrame) -> pd.DataFrame:
    """`df` with `confirmed` (the mean dev score over the trial's own training and its completed
    confirmations) and `seeds` (how many) on each confirmed search trial; empty elsewhere."""
    df = df.assign(confirmed=float("nan"), seeds=pd.NA)
    extra = df[(df["kind"] == "confirm") & (df["state"] == "complete")].dropna(subset=["score"])
    if not len(extra):
        return df
    for number, g in extra.groupby(extra["confirms"].astype(int)):
        own = (df["kind"] == "search") & (df["trial"].astype(str) == str(number)) & (df["state"] == "complete")
        if own.any():
            scores = [float(df.loc[own, "score"].iloc[0]), *g["score"].astype(float)]
            df.loc[own, "confirmed"] = sum(scores) / len(scores)
            df.loc[own, "seeds"] = len(scores)
    return df
