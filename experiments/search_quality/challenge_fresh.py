"""Does the final challenge still pick well when it chooses on trainings of its own?

challenge.py simulates the rule from committed trainings: it chooses between the search's pick and the
challenger on the dev score of the very trainings whose test score it then reports. A user's outcome
is different: the search chooses on its own two trainings, then the user trains the chosen one again.
This script measures that: for every pick of the default search (`warm`) that is not the challenger,
it trains the pick and the challenger at `standard` with seed 200 + the search seed (no earlier
training used those seeds), chooses on their dev scores, and reports the test score of the chosen one's
committed retraining (seed 100 + the search seed): selection and test come from independent trainings.
The challenger is challenge.csv's: the best baseline that search trained itself, as `--challenge` takes it.

    .venv/bin/python experiments/search_quality/challenge_fresh.py --machine cpu --threads 1   # train
    .venv/bin/python experiments/search_quality/challenge_fresh.py --machine cpu --analyse     # write md
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from challenge import summary  # noqa: I001 (this folder's modules)
from run import CONFIGS, PRECISION, study_parser
from steps import CLI, Step, run_step

HERE = Path(__file__).resolve().parent
SOURCES = ("warm",)  # the default search
SELECTION_SEED = 200  # + the search seed: trainings that choose, independent of those that are scored


def challenged(machine: str) -> pd.DataFrame:
    """challenge.csv's rows of SOURCES where the pick is not the challenger (a different model trained
    with the same seed scores differently on 5,000 tweets or 4,000 images; the same one identically)."""
    df = pd.read_csv(HERE / machine / "challenge.csv")
    return df[df["source"].isin(SOURCES) & (df["pick_test"] != df["challenger_test"])]


def folder(machine: str, r: pd.Series, role: str) -> Path:
    base = HERE / machine / r["config"] / "challenge"
    seed = SELECTION_SEED + int(r["search_seed"])
    return base / (f"{r['source']}-s{int(r['search_seed'])}-pick" if role == "pick" else f"{r['challenger']}-{seed}")


def steps(machine: str, threads: list[str]) -> list[Step]:
    out: dict[Path, Step] = {}  # a challenger shared by several picks is trained once
    for _, r in challenged(machine).iterrows():
        cfg = CONFIGS[r["config"]]
        pick = HERE / machine / r["config"] / "runs" / "retrain" / f"{r['source']}-s{int(r['search_seed'])}-best"
        for role, target in (("pick", str(pick / "candidate.json")), ("challenger", r["challenger"])):
            d = folder(machine, r, role)
            cmd = [CLI, "train", target, *cfg.args(), "--fidelity", "standard", "--seeds",
                   str(SELECTION_SEED + int(r["search_seed"])), "--report", "--out", str(d), *threads, *PRECISION]
            out[d] = Step(f"challenge {r['config']} {d.name}", cmd, d / "result.json")
    return list(out.values())


def dev_score(d: Path) -> float:
    return float(json.loads((d / "result.json").read_text())["score"])


def analyse(machine: str) -> pd.DataFrame:
    """challenge.csv's rows, the choice remade on the selection trainings (kept as they were where the
    pick is the challenger: nothing to choose)."""
    df = pd.read_csv(HERE / machine / "challenge.csv")
    df = df[df["source"].isin(SOURCES)].copy()
    rows = challenged(machine)
    for i, r in rows.iterrows():
        pick, chal = folder(machine, r, "pick"), folder(machine, r, "challenger")
        if not ((pick / "result.json").is_file() and (chal / "result.json").is_file()):
            df = df.drop(index=i)  # not trained yet
            continue
        df.loc[i, "selection_pick_dev"], df.loc[i, "selection_challenger_dev"] = dev_score(pick), dev_score(chal)
        keep = dev_score(pick) >= dev_score(chal)
        df.loc[i, "kept"] = "pick" if keep else "challenger"
        df.loc[i, "rule_test"] = r["pick_test"] if keep else r["challenger_test"]
    return df


def main() -> None:
    ap = study_parser(__doc__, "challenge_fresh.csv and challenge_fresh.md")
    args = ap.parse_args()
    if args.analyse:
        df = analyse(args.machine)
        df.to_csv(HERE / args.machine / "challenge_fresh.csv", index=False)
        text = ("# The final challenge choosing on trainings of its own (challenge_fresh.py)\n\n"
                "Chosen on seed 200 + the search seed, scored by the chosen one's retraining on seed 100 + the "
                "search seed (challenge.md chose and scored on the same training).\n\n" + summary(df))
        (HERE / args.machine / "challenge_fresh.md").write_text(text)
        print(text)
        return
    threads = ["--threads", str(args.threads)] if args.threads else []
    for step in steps(args.machine, threads):
        if not step.done():
            run_step(step, step.done_file.parent.parent.parent / "log")


if __name__ == "__main__":
    main()
