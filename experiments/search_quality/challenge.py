"""Would a final challenge at the user's training length pick better than the `quick` ranking?

The default search picks its best trial at `quick` (100 steps); the user then trains the pick for 300.
Where the pick is not the config's best baseline, a search could train both at the final length and
keep the one with the better dev score: a guard against a trial that was lucky at 100 steps, at the cost
of two 300-step trainings, and only when the search's pick is not the baseline already.

This asks what that rule would have returned, from trainings already committed, no new ones: every
search pick was retrained at `standard` from seed 100 + its search seed, and the baselines from seeds
100-102, so for each pick there is a training of the challenger with the same seed. The challenger is
the fitting baseline with the best dev score at `quick` (what a search that starts from the baselines
knows; not the best on test, which no user knows). The rule keeps whichever of the two has the higher
dev score at `standard` (the pick on a tie) and is scored by that training's test score.

Reads each config's `retrained.csv` and `baselines.csv` (analyse.py's); writes `<machine>/challenge.csv`
(one row per search pick) and `<machine>/challenge.md` (per search, pooled over the configs and seeds:
the rule against the pick itself, against the challenger, and against the best baseline on test):

    .venv/bin/python experiments/search_quality/challenge.py --machine cpu
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import pandas as pd
from analyse import SOURCES, as_default  # noqa: I001 (this folder's module)

HERE = Path(__file__).resolve().parent
CONFIGS = ("tweets-0.5", "tweets-0.05", "mnist-0.5")


def challenger(base: Path) -> str:
    """The fitting baseline the searches saw scoring best at `quick` (dev, seed 0)."""
    bl = pd.read_csv(base / "baselines.csv")
    return str(bl.loc[bl["quick_dev"].idxmax(), "baseline"])


def oracle(ok: pd.DataFrame, largest: int) -> str:
    """The best baseline on test at no more parameters than `largest` (analyse.py's reference)."""
    base = ok[(ok["source"] == "baseline") & (ok["peft_params"] <= largest)]
    return str(base.groupby("pick")["test"].mean().idxmax())


def rows_for(config: str, base: Path) -> list[dict]:
    df = as_default(pd.read_csv(base / "retrained.csv"))[0]
    ok = df[df["status"] == "ok"]
    name = challenger(base)
    by_seed = ok[(ok["source"] == "baseline") & (ok["pick"] == name)].set_index("seed")
    picks = ok[(ok["pick"] == "best") & ~ok["source"].isin(["baseline", "user"])]
    rows = []
    for source, g in picks.groupby("source"):
        best = oracle(ok, int(g["peft_params"].max()))
        ref = ok[(ok["source"] == "baseline") & (ok["pick"] == best)].set_index("seed")
        for r in g.itertuples():
            if r.seed not in by_seed.index or r.seed not in ref.index:
                continue
            c = by_seed.loc[r.seed]
            keep = r.dev >= c["dev"]
            rows.append({"config": config, "source": source, "search_seed": int(r.search_seed), "seed": int(r.seed),
                         "pick_params": int(r.peft_params), "pick_dev": r.dev, "pick_test": r.test,
                         "challenger": name, "challenger_dev": c["dev"], "challenger_test": c["test"],
                         "kept": "pick" if keep else "challenger", "rule_test": r.test if keep else c["test"],
                         "oracle": best, "oracle_test": ref.loc[r.seed, "test"]})
    return rows


def summary(df: pd.DataFrame) -> str:
    from scipy import stats

    def cell(d: pd.Series) -> str:
        if len(d) < 2 or d.std(ddof=1) == 0:
            return f"{d.mean():+.4f} (n = {len(d)})"
        half = float(stats.t.ppf(0.975, len(d) - 1)) * d.std(ddof=1) / math.sqrt(len(d))
        p = float(stats.ttest_1samp(d, 0.0).pvalue)
        return f"{d.mean():+.4f} [{d.mean() - half:+.4f}, {d.mean() + half:+.4f}], p = {p:.3f}"

    lines = ["| search | pairs | challenged (pick is not the challenger) | kept the challenger | rule - pick "
             "| rule - challenger | rule - best baseline on test | pick - best baseline on test |",
             "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for source, g in df.groupby("source"):
        rule = g["rule_test"]
        lines.append(f"| {SOURCES.get(source, source)} | {len(g)} | {(g['pick_test'] != g['challenger_test']).sum()} "
                     f"| {(g['kept'] == 'challenger').sum()} | {cell(rule - g['pick_test'])} "
                     f"| {cell(rule - g['challenger_test'])} | {cell(rule - g['oracle_test'])} "
                     f"| {cell(g['pick_test'] - g['oracle_test'])} |")
    everything = df.drop_duplicates(["config", "seed", "pick_params", "pick_test"])
    kept_challenger, kept_pick = everything["kept"] == "challenger", everything["kept"] == "pick"
    ahead = everything["challenger_test"] - everything["pick_test"]  # > 0: the challenger was ahead on test
    lines += ["", f"Over the {len(everything)} distinct picks of every search (a pick several searches share counted "
              f"once): rule - pick {cell(everything['rule_test'] - everything['pick_test'])}; the challenger kept "
              f"on {kept_challenger.sum()} of them; where it was kept, it was ahead on test on "
              f"{(kept_challenger & (ahead > 0)).sum()}; where the pick was kept over a different challenger, the "
              f"pick was ahead on test on {(kept_pick & (ahead < 0)).sum()} of {(kept_pick & (ahead != 0)).sum()}."]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--machine", default="cpu")
    args = ap.parse_args()
    rows = []
    for config in CONFIGS:
        base = HERE / args.machine / config
        if (base / "retrained.csv").is_file():
            rows += rows_for(config, base)
    df = pd.DataFrame(rows)
    df.to_csv(HERE / args.machine / "challenge.csv", index=False)
    text = ("# A final challenge at 300 steps: the pick against the best baseline at `quick` (challenge.py)\n\n"
            + "Challengers: " + ", ".join(f"{c}: `{challenger(HERE / args.machine / c)}`" for c in CONFIGS) + "\n\n"
            + summary(df))
    (HERE / args.machine / "challenge.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
