"""Is a lead on the test split a lead on the task? The test split's own sampling error, measured.

The headroom study's one significant lead over the best baseline (tweets at 0.05%: a 10,752-parameter
hybrid +0.0057 over (IA)³ on values and keys, paired p = 0.019 over 12 training seeds) is tested over
training seeds on one fixed test split of 5,000 tweets. That p-value treats the split as the whole
task: a different 5,000 tweets would give a different gap, and the per-seed test gap cannot show by how
much. Two candidates' per-example predictions can: this script retrains headroom's candidates with
`autopeft train --predictions` on the same seeds (retraining here is deterministic, so these are the
same models as headroom's: every score is checked against headroom's result.json), then for each pair
of candidates:

- the discordance (examples the two classify differently, on average over seeds), which sets the
  split's sampling error of an accuracy gap;
- a paired bootstrap over training seeds and test examples together (the same seeds and examples for
  both candidates in each resample): the gap's 95% interval and a two-sided p for "no lead on the task",
  beside the seeds-only bootstrap, which treats the split as fixed like the t-test does.

    .venv/bin/python experiments/search_quality/split_error.py --machine cpu --threads 1   # retrain
    .venv/bin/python experiments/search_quality/split_error.py --machine cpu --analyse     # split_error.md
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import numpy as np
import pandas as pd
from headroom import selection  # noqa: I001 (this folder's modules)
from run import CONFIGS, PRECISION, study_parser
from steps import CLI, Step, run_step

HERE = Path(__file__).resolve().parent
CONFIG = "tweets-0.05"  # where the one significant lead is
ROLES = ("found-2", "found-3", "found-1")  # the 10,752 and 9,988 hybrids and ia3@t2 (today's best baseline)
SEEDS = (103, 104, 105, 106, 107, 108)  # headroom's first six seeds (its result.json and more/result.json)
RESAMPLES = 10_000
SPLITS = ("test", "dev")


def steps(base: Path, threads: list[str]) -> list[Step]:
    cfg = CONFIGS[CONFIG]
    out = []
    for role in ROLES:
        d = base / "headroom" / role / "predictions"
        cmd = [CLI, "train", str(base / "headroom" / role / "candidate.json"), *cfg.args(), "--fidelity", "standard",
               "--seeds", ",".join(map(str, SEEDS)), "--report", "--predictions", "--out", str(d), *threads,
               *PRECISION]
        out.append(Step(f"split error {CONFIG} {role}", cmd, predictions_file(base, role)))
    return out


def predictions_file(base: Path, role: str) -> Path:
    return base / "headroom" / role / "predictions" / "predictions.csv.gz"


def headroom_scores(role_dir: Path) -> dict[int, tuple[float, float]]:
    """(dev, test) per seed as headroom recorded them."""
    out = {}
    for path in (role_dir / "result.json", role_dir / "more" / "result.json", role_dir / "extra" / "result.json"):
        if path.is_file():
            for run in json.loads(path.read_text())["runs"]:
                out[run["seed"]] = (run["score"], run["reports"]["test"]["score"])
    return out


def correct(base: Path, role: str, split: str) -> np.ndarray:
    """seeds x examples: 1 where the candidate classified the example right."""
    p = pd.read_csv(predictions_file(base, role))
    p = p[p["split"] == split].sort_values(["seed", "example"])
    return np.stack([(g["label"] == g["prediction"]).to_numpy(float) for _, g in p.groupby("seed")])


def check_same_models(base: Path, role: str) -> str:
    """Whether the retrained models are headroom's: their dev and test scores per seed, compared."""
    recorded = headroom_scores(base / "headroom" / role)
    dev, test = correct(base, role, "dev").mean(1), correct(base, role, "test").mean(1)
    same = [abs(dev[i] - recorded[s][0]) < 1e-9 and abs(test[i] - recorded[s][1]) < 1e-9
            for i, s in enumerate(SEEDS)]
    return f"{sum(same)} of {len(SEEDS)} seeds identical to headroom's scores"


def bootstrap(a: np.ndarray, b: np.ndarray, examples: bool, rng: np.random.Generator) -> np.ndarray:
    """The gap's resampled means: seeds resampled (paired), and examples too when asked (paired)."""
    seeds, n = a.shape
    out = np.empty(RESAMPLES)
    diff = a - b  # seeds x examples
    for i in range(RESAMPLES):
        s = rng.integers(0, seeds, seeds)
        if examples:
            per_example = diff[s].mean(0)  # the resampled seeds' mean gap on each example
            out[i] = per_example[rng.integers(0, n, n)].mean()
        else:
            out[i] = diff[s].mean()
    return out


def analyse(base: Path) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    sel = selection(base).set_index("role")
    rows = []

    def name_of(role: str) -> str:
        return f"{role} ({sel.loc[role, 'baseline'] or sel.loc[role, 'sources']}, {sel.loc[role, 'peft_params']:,})"

    have = [r for r in ROLES if predictions_file(base, r).is_file()]
    for a, b in itertools.combinations(have, 2):
        for split in SPLITS:
            ca, cb = correct(base, a, split), correct(base, b, split)
            row = {"split": split, "a": name_of(a), "b": name_of(b), "seeds": ca.shape[0], "examples": ca.shape[1],
                   "gap": (ca - cb).mean(),
                   "discordance": float((ca != cb).mean())}
            for label, examples in (("seeds", False), ("seeds_and_examples", True)):
                boot = bootstrap(ca, cb, examples, rng)
                row[f"ci_{label}"] = f"[{np.quantile(boot, 0.025):+.4f}, {np.quantile(boot, 0.975):+.4f}]"
                row[f"p_{label}"] = float(min(1.0, 2 * min((boot <= 0).mean(), (boot >= 0).mean())))
            rows.append(row)
    return pd.DataFrame(rows)


def table(df: pd.DataFrame, checks: dict[str, str]) -> str:
    lines = ["| split | a | b | seeds | examples | gap a - b | discordance | 95% interval, seeds resampled | p "
             "| 95% interval, seeds and examples resampled | p |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in df.itertuples():
        lines.append(f"| {r.split} | {r.a} | {r.b} | {r.seeds} | {r.examples:,} | {r.gap:+.4f} "
                     f"| {r.discordance:.3f} | {r.ci_seeds} | {r.p_seeds:.3f} | {r.ci_seeds_and_examples} "
                     f"| {r.p_seeds_and_examples:.3f} |")
    lines += ["", *(f"- {role}: {text}" for role, text in checks.items())]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = study_parser(__doc__, "split_error.csv and split_error.md")
    args = ap.parse_args()
    base = HERE / args.machine / CONFIG
    if args.analyse:
        df = analyse(base)
        df.to_csv(HERE / args.machine / "split_error.csv", index=False)
        done = [role for role in ROLES if predictions_file(base, role).is_file()]
        text = table(df, {role: check_same_models(base, role) for role in done})
        (HERE / args.machine / "split_error.md").write_text(text)
        print(text)
        return
    threads = ["--threads", str(args.threads)] if args.threads else []
    for step in steps(base, threads):
        if not step.done():
            run_step(step, base / "log")


if __name__ == "__main__":
    main()
