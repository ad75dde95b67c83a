"""`--challenge FIDELITY`: the pick against the best baseline, trained the way the user will train it.

A search ranks its trials after a short training (`quick`: 100 steps), and the user then trains the
pick for longer. Between the best trials the short ranking is barely better than chance: at 0.05% of
MiniLM the default search's seed 1 picked a hybrid that led (IA)³ after 100 steps and retrained 0.029
below it (experiments/search_quality). A final challenge guards against that. Once the search (and
`--confirm`) ends, its pick and the best hand-designed baseline it trained (the default `mobo` trains
the fitting baselines first; other strategies need `--baselines`) are both trained at FIDELITY with
the search's seed, and the one with the higher dev score there is the search's pick, the search's own
on a tie (`export --best`, export/rundir.challenged). Those trainings are trials of their own study
(`kind` "final" in trials.csv, labelled `f<n>`, `challenges` naming the trial), their weights kept as
`trial-f<n>`, so an export carries the longer training's tensors. Where the pick is that baseline
already there is nothing to challenge and nothing is trained. The cost is two trainings at FIDELITY:
with `standard` (300 steps), the steps of six of the default search's trials.

Measured out of sample on the default search's 9 task-seed picks (experiments/search_quality,
challenge_fresh.md: chosen on trainings of its own, scored on the chosen one's retraining), the rule's
answer was never below the best baseline (+0.0018, p = 0.17; it challenged 2 picks, right on both)
where the pick alone was -0.0014 and once -0.029. So it is the default (`--challenge auto`,
search/settings.py): `standard` after a `quick` search that trains baselines.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pandas as pd

from autopeft.methods.candidate import Candidate
from autopeft.search.confirm import top

KIND = "final"
# how `mobo`'s start names a baseline it trains as a search trial (strategies/mobo.py)
_SEEDED = re.compile(r"^the baseline (\S+) as a first trial$")


def baseline_name(row: pd.Series) -> str | None:
    """The hand-designed baseline a trials.csv row trained, if it is one (a `--baselines` trial or a
    search trial the strategy started from a baseline)."""
    if row["kind"] == "baseline":
        return str(row["name"])
    m = _SEEDED.match(str(row.get("origin") or "")) if row["kind"] == "search" else None
    return m.group(1) if m else None


def pick_of(df: pd.DataFrame, fidelity: str) -> pd.Series | None:
    """The search's pick before the challenge: the best confirmed mean under `--confirm`, else its best
    trial (export/rundir.best's order)."""
    confirmed = df[(df["kind"] == "search") & df["confirmed"].notna()] if "confirmed" in df else df.iloc[:0]
    if len(confirmed):
        return confirmed.sort_values(["confirmed", "peft_params"], ascending=[False, True]).iloc[0]
    best = top(df, fidelity, 1)
    return best.iloc[0] if len(best) else None


def challenger_of(df: pd.DataFrame, fidelity: str) -> pd.Series | None:
    """The best baseline the search trained at its fidelity (score, then fewer parameters, then loss)."""
    done = df[df["kind"].isin(("search", "baseline")) & (df["state"] == "complete") & (df["fidelity"] == fidelity)]
    done = done.dropna(subset=["score"])
    done = done[[baseline_name(r) is not None for _, r in done.iterrows()]]
    if not len(done):
        return None
    done = done.assign(_loss=done["dev_loss"].astype(float).fillna(float("inf")))
    return done.sort_values(["score", "peft_params", "_loss"], ascending=[False, True, True]).iloc[0]


def contenders(df: pd.DataFrame, fidelity: str) -> list[pd.Series]:
    """The pick and the best baseline, or nothing when the pick is that baseline (or either is missing)."""
    pick, base = pick_of(df, fidelity), challenger_of(df, fidelity)
    if pick is None or base is None or Candidate.from_json(pick["candidate"]) == Candidate.from_json(base["candidate"]):
        return []
    return [pick, base]


def unchallenged(df: pd.DataFrame, fidelity: str) -> str:
    """Why a search has nothing to challenge (`contenders` is empty)."""
    pick, base = pick_of(df, fidelity), challenger_of(df, fidelity)
    if pick is None:
        return "no trial completed, so there is no pick to challenge"
    if base is None:
        return "no baseline completed at the search's fidelity, so the pick stands unchallenged"
    return f"the pick is the best baseline, {baseline_name(base)}, already: nothing to challenge"


def missing(df: pd.DataFrame, fidelity: str) -> Iterator[tuple[str, str, Candidate, str | None]]:
    """(trial label, baseline name or "" for the pick, candidate, recipe) of each contender not yet
    trained at the final fidelity (a failed one is not tried again: the search's pick then stands)."""
    tried = {str(r.challenges) for r in df[df["kind"] == KIND].itertuples()
             if r.state in ("complete", "failed", "running")}
    for i, row in enumerate(contenders(df, fidelity)):
        if str(row["trial"]) not in tried:
            name = baseline_name(row) if i else ""  # the pick first, then the baseline
            yield str(row["trial"]), name or "", Candidate.from_json(row["candidate"]), row["recipe"] or None

