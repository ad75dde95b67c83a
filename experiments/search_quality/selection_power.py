"""Can a dev score at `standard` tell two candidates apart, and from how large a gap?

Every search picks on the dev split, and no arm's pick is reliably ahead of the best baseline where the
leads on test are about half a point. Whatever the search, the pick can only be as good as the score
it ranks by, so this measures that score at its best: after the full 300 steps, not the search's 100.
The headroom study (`headroom.py`) trained its candidates at `standard` with the same seeds (3 at
0.5%, 6 on MNIST and at 0.05%, 12 for three candidates there), each scored on dev and on test. For
every pair of a config's candidates, over the seeds both have:

- the test gap (mean over the seeds: the reference, what the user gets on the test split);
- the per-seed dev gap and test gap, and their correlation over the seeds (does the training seed's
  luck on dev carry over to test?);
- how often the dev score picks the candidate that is ahead on test (by the mean test gap): from one
  training (each seed), and from the mean of three (every three of the seeds, where there are six).

Writes `<machine>/selection_power.csv` (one row per pair), `.md` and `.png` (how often dev picks the
test's better candidate, against the test gap).

    .venv/bin/python experiments/search_quality/selection_power.py --machine cpu
"""

from __future__ import annotations

import argparse
import itertools
import math
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
MEAN_OF = 3  # trainings averaged in the second selection rule (a pick confirmed on three seeds)


def pair_rows(df: pd.DataFrame) -> list[dict]:
    """One row per pair of candidates of a config, over the seeds both were trained with."""
    rows = []
    ok = df[df["status"] == "ok"]
    for config, c in ok.groupby("config", sort=False):
        roles = {role: g.set_index("seed") for role, g in c.groupby("role", sort=False)}
        for (a, ga), (b, gb) in itertools.combinations(roles.items(), 2):
            seeds = sorted(set(ga.index) & set(gb.index))
            if len(seeds) < 3:  # (headroom's roles are distinct candidates: see its `select`)
                continue
            dev = (ga.loc[seeds, "dev"] - gb.loc[seeds, "dev"]).to_numpy()
            test = (ga.loc[seeds, "test"] - gb.loc[seeds, "test"]).to_numpy()
            ahead = np.sign(test.mean())  # +1: a is ahead on test over these seeds
            row = {"config": config, "a": f"{a} ({ga['what'].iloc[0]})", "b": f"{b} ({gb['what'].iloc[0]})",
                   "seeds": len(seeds), "test_gap": test.mean(), "dev_gap": dev.mean(),
                   "test_gap_sd": test.std(ddof=1), "dev_gap_sd": dev.std(ddof=1),
                   "corr_dev_test": float(np.corrcoef(dev, test)[0, 1]) if dev.std() and test.std() else math.nan,
                   "dev_picks_test_better_1": float(np.mean(np.sign(dev) == ahead)) if ahead else math.nan}
            if len(seeds) >= 2 * MEAN_OF and ahead:
                means = [dev[list(idx)].mean() for idx in itertools.combinations(range(len(seeds)), MEAN_OF)]
                row[f"dev_picks_test_better_{MEAN_OF}"] = float(np.mean(np.sign(means) == ahead))
            rows.append(row)
    return rows


def table(pairs: pd.DataFrame) -> str:
    lines = [f"| config | candidate a | candidate b | seeds | test gap a - b | dev gap a - b | per-seed corr "
             f"(dev, test gaps) | dev picks test's better: 1 training | mean of {MEAN_OF} |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    ordered = pairs.sort_values(["config", "test_gap"], key=lambda s: s.abs() if s.name == "test_gap" else s)
    for r in ordered.itertuples():
        k = getattr(r, f"dev_picks_test_better_{MEAN_OF}", math.nan)
        lines.append(f"| {r.config} | {r.a} | {r.b} | {r.seeds} | {r.test_gap:+.4f} ± {r.test_gap_sd:.4f} | "
                     f"{r.dev_gap:+.4f} ± {r.dev_gap_sd:.4f} | {r.corr_dev_test:+.2f} | "
                     f"{r.dev_picks_test_better_1:.0%} | {'' if math.isnan(k) else f'{k:.0%}'} |")
    return "\n".join(lines) + "\n"


def plot(pairs: pd.DataFrame, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for config, c in pairs.groupby("config"):
        ax.scatter(c["test_gap"].abs(), c["dev_picks_test_better_1"], label=f"{config}, 1 training", marker="o")
        col = f"dev_picks_test_better_{MEAN_OF}"
        if col in c and c[col].notna().any():
            ax.scatter(c["test_gap"].abs(), c[col], label=f"{config}, mean of {MEAN_OF}", marker="x")
    ax.axhline(0.5, color="grey", lw=0.8, ls=":")
    ax.set_xlabel("|test gap| between the two candidates (mean over seeds)")
    ax.set_ylabel("dev at `standard` picks the test's better one")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--machine", default="cpu", help="results folder (cpu, or a device's name)")
    args = ap.parse_args()
    out = HERE / args.machine
    df = pd.read_csv(out / "headroom.csv")
    pairs = pd.DataFrame(pair_rows(df))
    pairs.to_csv(out / "selection_power.csv", index=False)
    (out / "selection_power.md").write_text(table(pairs))
    plot(pairs, out / "selection_power.png")
    print(table(pairs))


if __name__ == "__main__":
    main()
