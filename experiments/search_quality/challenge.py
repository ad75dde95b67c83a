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

The challenger is the one `autopeft search --challenge` itself takes (autopeft.search.challenge.
challenger_of on the search's own trials.csv): the best baseline that search trained at `quick`, on its
own seed. A search that trained no baseline (the max-min start, `asha`, ...) would need `--baselines`,
which trains every fitting baseline: for those the challenger is the best of the study's baseline runs
at `quick` (baselines.csv, seed 0), and `challenger_from` says which of the two it is.

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

from autopeft.search import challenge

HERE = Path(__file__).resolve().parent
CONFIGS = ("tweets-0.5", "tweets-0.05", "mnist-0.5")


def challenger(base: Path) -> str:
    """The fitting baseline scoring best at `quick` in the study's baseline runs (dev, seed 0): what
    `--baselines` would add to a search that trains none of its own."""
    bl = pd.read_csv(base / "baselines.csv")
    return str(bl.loc[bl["quick_dev"].idxmax(), "baseline"])


def own_challenger(run: Path) -> str | None:
    """The challenger `autopeft search --challenge` takes from this search's record: the best baseline
    it trained at its fidelity (None where it trained none)."""
    if not (run / "trials.csv").is_file():
        return None
    df = pd.read_csv(run / "trials.csv")
    if "dev_loss" not in df:  # recorded since; challenger_of breaks ties on it
        df = df.assign(dev_loss=float("nan"))
    fidelity = df.loc[df["kind"] == "search", "fidelity"].mode()
    row = challenge.challenger_of(df, str(fidelity.iloc[0])) if len(fidelity) else None
    return None if row is None else challenge.baseline_name(row)


def oracle(ok: pd.DataFrame, largest: int) -> str:
    """The best baseline on test at no more parameters than `largest` (analyse.py's reference)."""
    base = ok[(ok["source"] == "baseline") & (ok["peft_params"] <= largest)]
    return str(base.groupby("pick")["test"].mean().idxmax())


def rows_for(config: str, base: Path) -> list[dict]:
    df = as_default(pd.read_csv(base / "retrained.csv"))[0]
    ok = df[df["status"] == "ok"]
    study_wide = challenger(base)
    r8 = ok[(ok["source"] == "baseline") & ok["pick"].str.startswith("lora-r8")].set_index("seed")["test"]
    picks = ok[(ok["pick"] == "best") & ~ok["source"].isin(["baseline", "user"])]
    rows = []
    for source, g in picks.groupby("source"):
        best = oracle(ok, int(g["peft_params"].max()))
        ref = ok[(ok["source"] == "baseline") & (ok["pick"] == best)].set_index("seed")
        for r in g.itertuples():
            own = own_challenger(base / "runs" / f"{source}-s{int(r.search_seed)}")
            name = own or study_wide
            by_seed = ok[(ok["source"] == "baseline") & (ok["pick"] == name)].set_index("seed")
            if r.seed not in by_seed.index or r.seed not in ref.index:
                continue
            c = by_seed.loc[r.seed]
            keep = r.dev >= c["dev"]
            rows.append({"config": config, "source": source, "search_seed": int(r.search_seed), "seed": int(r.seed),
                         "pick_params": int(r.peft_params), "pick_dev": r.dev, "pick_test": r.test,
                         "challenger": name, "challenger_from": "search" if own else "baselines.csv",
                         "challenger_dev": c["dev"], "challenger_test": c["test"],
                         "kept": "pick" if keep else "challenger", "rule_test": r.test if keep else c["test"],
                         "oracle": best, "oracle_test": ref.loc[r.seed, "test"],
                         "lora_r8_test": r8.get(r.seed, math.nan)})
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
             "| rule - challenger | rule - best baseline on test | pick - best baseline on test "
             "| rule - lora-r8 as it fits |",
             "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for source, g in df.groupby("source"):
        rule = g["rule_test"]
        lines.append(f"| {SOURCES.get(source, source)} | {len(g)} | {(g['pick_test'] != g['challenger_test']).sum()} "
                     f"| {(g['kept'] == 'challenger').sum()} | {cell(rule - g['pick_test'])} "
                     f"| {cell(rule - g['challenger_test'])} | {cell(rule - g['oracle_test'])} "
                     f"| {cell(g['pick_test'] - g['oracle_test'])} | {cell((rule - g['lora_r8_test']).dropna())} |")
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
            + "Challengers: the best baseline each search trained itself (`challenger_from` = search); for a search "
            "that trained none, as `--baselines` would add them, the best of the study's baseline runs: "
            + ", ".join(f"{c}: `{challenger(HERE / args.machine / c)}`" for c in CONFIGS) + "\n\n"
            + summary(df))
    (HERE / args.machine / "challenge.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
