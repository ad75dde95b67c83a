"""Does picking on more training seeds pay? A confirmation pass after a finished search.

The searches pick their best by one 100-step training on the dev split, where the top candidates
bunch within a few dev examples (MNIST's `warm` seed 2 picked a hybrid over (IA)³ by one image in
200 and retrained 0.06 lower; three `warm_tied` trials tied at 0.641 on tweets at 0.05%). This pass
takes a finished search's top K trials by dev score (its own ranking: score, then fewer parameters),
trains each at the search's fidelity with two more training seeds (200 and 201; no run has used
them), and picks the best mean of the three on dev (never test). The pick is retrained as every
pick is (`standard`, seed 100 + the search seed, scored on `test`) in `runs/retrain/<arm>-s<seed>-best`,
where `<arm>` is `<base>_confirm`; when that candidate was already retrained with the same seed (the
search's best or knee, another arm's pick or a baseline), that retraining is copied rather than run again (`copied_from`
names it). The pass costs K x 2 trainings
at the search's fidelity, 6 with K = 3: 60% more than the default search's 10 trials. Each search's
pass is written to `runs/<arm>-s<seed>/confirm.csv`; analyse.py puts the arm in the user's table.

Resumable like run.py (every training is skipped once its result exists):

    .venv/bin/python experiments/search_quality/confirm.py --machine cpu --threads 1
    .venv/bin/python experiments/search_quality/confirm.py --machine cpu --only mnist-0.5 --bases warm warm_tied
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from retraining import reuse_retrain  # noqa: I001 (this folder's modules)
from run import CONFIGS, PRECISION, RETRAIN_FIDELITY, RETRAIN_SEEDS, SEARCH_SEEDS, Config
from steps import CLI, Step, finished, run_step

HERE = Path(__file__).resolve().parent
TOP = 3  # trials confirmed per search
SEEDS = (200, 201)  # the confirmation's extra training seeds (the trial's own is the third)
BASES = ("warm",)  # the searches confirmed by default: the default search


def top(run: Path, k: int = TOP) -> pd.DataFrame:
    """The search's top `k` complete trials at its own fidelity by (dev score, fewer parameters,
    earlier trial), one per candidate, as its pick is made (export/rundir.best)."""
    t = pd.read_csv(run / "trials.csv")
    fidelity = json.loads((run / "run.json").read_text())["fidelity"]
    t = t[(t["state"] == "complete") & (t["kind"] == "search") & (t["fidelity"] == fidelity)]
    t = t.dropna(subset=["score"]).sort_values(["score", "peft_params", "trial"], ascending=[False, True, True])
    return t.drop_duplicates("candidate").head(k)


def confirm_dir(base: Path, label: str, seed: int) -> Path:
    return base / "runs" / f"{label}_confirm-s{seed}"


def train_steps(cfg: Config, base: Path, label: str, seed: int, threads: list[str]) -> list[Step]:
    """The extra seeds of the search's top trials."""
    run, out = base / "runs" / f"{label}-s{seed}", confirm_dir(base, label, seed)
    fidelity = json.loads((run / "run.json").read_text())["fidelity"]
    steps = []
    for row in top(run).itertuples():
        d = out / f"trial-{row.trial}"
        d.mkdir(parents=True, exist_ok=True)
        (d / "candidate.json").write_text(row.candidate)
        cmd = [CLI, "train", str(d / "candidate.json"), *cfg.args(), "--fidelity", fidelity,
               "--seeds", ",".join(map(str, SEEDS)), "--out", str(d), *threads, *PRECISION]
        steps.append(Step(f"confirm {label} seed {seed} trial {row.trial}", cmd, d / "result.json"))
    return steps


def pick(base: Path, label: str, seed: int) -> pd.DataFrame:
    """confirm.csv: the top trials' dev scores over the three seeds and the pick (the best mean;
    ties to fewer parameters, then the earlier trial)."""
    run, out = base / "runs" / f"{label}-s{seed}", confirm_dir(base, label, seed)
    rows = []
    for row in top(run).itertuples():
        r = json.loads((out / f"trial-{row.trial}" / "result.json").read_text())
        extra = [x["score"] for x in r["runs"]]
        scores = [row.score, *extra]
        rows.append({"trial": row.trial, "peft_params": row.peft_params, "summary": row.summary,
                     "search_score": row.score, **{f"seed_{s}": x for s, x in zip(SEEDS, extra, strict=True)},
                     "mean": sum(scores) / len(scores), "candidate": row.candidate})
    df = pd.DataFrame(rows).sort_values(["mean", "peft_params", "trial"], ascending=[False, True, True])
    df["picked"] = [True] + [False] * (len(df) - 1)
    df.to_csv(out / "confirm.csv", index=False)
    return df


def retrain_step(cfg: Config, base: Path, label: str, seed: int, picked: pd.Series, threads: list[str]) -> Step:
    """The pick retrained as every pick is; the search's own retraining copied when it is its pick."""
    d = base / "runs" / "retrain" / f"{label}_confirm-s{seed}-best"
    d.mkdir(parents=True, exist_ok=True)
    (d / "candidate.json").write_text(picked["candidate"])
    fresh = RETRAIN_SEEDS[SEARCH_SEEDS.index(seed)]
    cmd = [CLI, "train", str(d / "candidate.json"), *cfg.args(), "--fidelity", RETRAIN_FIDELITY,
           "--seeds", str(fresh), "--report", "--out", str(d), *threads, *PRECISION]
    return Step(f"retrain {label}_confirm seed {seed} best (trial {picked['trial']})", cmd, d / "result.json")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="cpu")
    ap.add_argument("--only", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--bases", nargs="*", default=list(BASES), help="the search arms to confirm (run.py's labels)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of each training")
    args = ap.parse_args()
    threads = ["--threads", str(args.threads)] if args.threads else []
    for name in args.only:
        cfg, base = CONFIGS[name], HERE / args.machine / name
        for label in args.bases:
            for seed in SEARCH_SEEDS:
                if not finished(base / "runs" / f"{label}-s{seed}"):
                    continue
                steps = train_steps(cfg, base, label, seed, threads)
                for step in steps:
                    if not step.done():
                        run_step(step, base / "log")
                if not all(step.done() for step in steps):
                    continue
                picked = pick(base, label, seed).iloc[0]
                step = retrain_step(cfg, base, label, seed, picked, threads)
                if not step.done() and not reuse_retrain(base, step.done_file.parent, picked["candidate"],
                                                         RETRAIN_SEEDS[SEARCH_SEEDS.index(seed)]):
                    run_step(step, base / "log")


if __name__ == "__main__":
    main()
