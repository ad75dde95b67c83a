"""Is a lead on the test split a lead on the task? The test split's own sampling error, measured.

The headroom study's one lead over the best baseline significant over seeds (tweets at 0.05%: a 10,752-parameter
hybrid +0.0057 over (IA)³ on values and keys, paired p = 0.019 over 12 training seeds) is tested over
training seeds on one fixed test split of 5,000 tweets. That p-value treats the split as the whole
task: a different 5,000 tweets would give a different gap, and the per-seed test gap cannot show by how
much. Two candidates' per-example predictions can: this script retrains headroom's candidates with
`autopeft train --predictions` on headroom's 12 seeds (103-114; the first six of every role first).
Retraining here is deterministic, so these are headroom's own models: every seed's dev and test score
is checked against headroom's result.json. Then for each pair of candidates, over their common seeds:

- the discordance (examples the two classify differently, on average over seeds), which sets the
  split's sampling error of an accuracy gap;
- paired bootstraps (the same seeds and examples for both candidates in each resample), each with the
  gap's 95% interval and a two-sided p: over the training seeds alone (the split taken as the task,
  as the t-test over seeds does), over the examples alone with every seed kept (the split's own
  error: about what remains with unboundedly many seeds), and over both (a lead on the task).

A larger split, measured rather than scaled by the square-root rule: searches score dev on a fixed
2,000 of its 5,000 tweets, so the other 3,000 were never scored for any search that found these
candidates. A second retraining of the same seeds with every dev tweet scored (`eval=all`; the models
are the same, checked on the 2,000 and on test) adds them: `dev-unscored` (those 3,000 alone: does the
lead hold on tweets nothing was selected on?) and `test+dev-unscored` (8,000 tweets, none used for
selection).

    .venv/bin/python experiments/search_quality/split_error.py --machine cpu --threads 1   # retrain
    .venv/bin/python experiments/search_quality/split_error.py --machine cpu --analyse     # split_error.md
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd
from headroom import EXTRA_SEEDS, MORE_SEEDS, SEEDS, results, selection  # noqa: I001 (this folder's modules)
from run import CONFIGS, PRECISION, study_parser
from steps import CLI, Step, run_step

from autopeft.commands.train import PREDICTIONS_FILE
from autopeft.evaluators.fidelity import DEFAULT_EVAL
from autopeft.evaluators.tasks.splits import SPLIT_SEED, stratified_indices

HERE = Path(__file__).resolve().parent
CONFIG = "tweets-0.05"  # where the one lead over the best baseline is
ROLES = ("found-2", "found-3", "found-1")  # the 10,752 and 9,988 hybrids and ia3@t2 (today's best baseline)
BATCHES = (("", SEEDS + MORE_SEEDS), ("extra", EXTRA_SEEDS))  # headroom's 12 seeds, its first six first
RESAMPLES = 10_000
# what is resampled: the seeds (the split taken as the task, as the t-test over seeds does), the
# examples with the seeds fixed (the split's own error: about what remains with unboundedly many seeds), both
RESAMPLINGS = (("seeds", True, False), ("examples", False, True), ("seeds_and_examples", True, True))
SPLITS = ("test", "dev")
# where each retraining's predictions go, under headroom/<role>/, and the fidelity it trains at: the
# second scores every dev tweet (the model is the same), for the splits below
VARIANTS = (("predictions", "standard"), ("predictions_eval_all", "standard,eval=all"))
UNSCORED = "dev-unscored"  # the dev tweets outside the 2,000 every search scores: selection never saw them
WIDE = "test+dev-unscored"


def steps(base: Path, threads: list[str]) -> list[Step]:
    """Each role's first six seeds, then each role's last six (the 12 that headroom's p-value is over);
    then the same with every dev tweet scored."""
    cfg = CONFIGS[CONFIG]
    out = []
    for folder, fidelity in VARIANTS:
        for sub, seeds in BATCHES:
            for role in ROLES:
                d = base / "headroom" / role / folder / sub
                cmd = [CLI, "train", str(base / "headroom" / role / "candidate.json"), *cfg.args(), "--fidelity",
                       fidelity, "--seeds", ",".join(map(str, seeds)), "--report", "--predictions", "--out",
                       str(d), *threads, *PRECISION]
                name = f"split error {CONFIG} {role} {sub}".rstrip() + ("" if fidelity == "standard" else " eval=all")
                out.append(Step(name, cmd, d / PREDICTIONS_FILE))
    return out


def predictions(base: Path, role: str, folder: str = "predictions") -> pd.DataFrame | None:
    """Every prediction written for a role so far (None when none is)."""
    files = [base / "headroom" / role / folder / sub / PREDICTIONS_FILE for sub, _ in BATCHES]
    frames = [pd.read_csv(f) for f in files if f.is_file()]
    return pd.concat(frames, ignore_index=True) if frames else None


def correct(preds: pd.DataFrame, split: str, seeds: list[int]) -> np.ndarray:
    """seeds x examples: 1 where the candidate classified the example right."""
    p = preds[(preds["split"] == split) & preds["seed"].isin(seeds)].sort_values(["seed", "example"])
    return np.stack([(g["label"] == g["prediction"]).to_numpy(float) for _, g in p.groupby("seed")])


def scored_dev(whole: pd.DataFrame) -> np.ndarray:
    """Positions in the whole dev split of the 2,000 a search scores (the trainer's fixed `subset`),
    from the labels the predictions carry."""
    dev = whole[(whole["split"] == "dev") & (whole["seed"] == whole["seed"].min())].sort_values("example")
    return stratified_indices(dev["label"].to_numpy(), DEFAULT_EVAL, SPLIT_SEED)


def widened(whole: pd.DataFrame) -> pd.DataFrame:
    """The eval=all predictions as two more splits: the dev tweets no search scored, and those with test."""
    dev = whole[whole["split"] == "dev"]
    unscored = dev[~dev["example"].isin(scored_dev(whole))].assign(split=UNSCORED)
    test = whole[whole["split"] == "test"]
    wide = pd.concat([test, unscored.assign(example=unscored["example"] + len(test) // test["seed"].nunique())])
    return pd.concat([unscored, wide.assign(split=WIDE)], ignore_index=True)


def check_same_as_scored(whole: pd.DataFrame, scored: pd.DataFrame) -> str:
    """Whether the eval=all models are the 2,000-dev ones: how many predictions differ, on test and on
    the 2,000 scored dev tweets (by position), over the seeds both have. Near-ties may flip: a CPU's
    float kernels are not bitwise reproducible across processes that scored other shapes before."""
    idx = scored_dev(whole)
    seeds = sorted(set(whole["seed"]) & set(scored["seed"]))

    def rows(p: pd.DataFrame, seed: int, split: str) -> np.ndarray:
        return p[(p["seed"] == seed) & (p["split"] == split)].sort_values("example")[["label", "prediction"]].to_numpy()

    dev = [int((rows(whole, s, "dev")[idx] != rows(scored, s, "dev")).any(1).sum()) for s in seeds]
    test = [int((rows(whole, s, "test") != rows(scored, s, "test")).any(1).sum()) for s in seeds]
    same = sum(d == t == 0 for d, t in zip(dev, test, strict=True))
    return (f"{same} of {len(seeds)} seeds predict every test tweet and the 2,000 scored dev tweets as before; "
            f"{sum(test)} of {len(seeds) * len(rows(scored, seeds[0], 'test')):,} test and {sum(dev)} of "
            f"{len(seeds) * len(idx):,} dev predictions differ")


def check_same_models(base: Path, role: str, preds: pd.DataFrame) -> str:
    """Whether the retrained models are headroom's: their dev and test scores per seed, compared."""
    rec = results(base).query("role == @role").set_index("seed")  # headroom.py's own reading of its runs
    recorded = {seed: (r.dev, r.test) for seed, r in rec.iterrows()}
    seeds = sorted(preds["seed"].unique())
    dev, test = correct(preds, "dev", seeds).mean(1), correct(preds, "test", seeds).mean(1)
    same = [abs(dev[i] - recorded[s][0]) < 1e-9 and abs(test[i] - recorded[s][1]) < 1e-9 for i, s in enumerate(seeds)]
    return f"{sum(same)} of {len(seeds)} seeds identical to headroom's dev and test scores"


def bootstrap(a: np.ndarray, b: np.ndarray, seeds: bool, examples: bool, rng: np.random.Generator) -> np.ndarray:
    """The gap's resampled means: seeds and/or examples resampled, the same ones for both candidates."""
    n_seeds, n = a.shape
    out = np.empty(RESAMPLES)
    diff = a - b  # seeds x examples
    every_seed = diff.mean(0)
    for i in range(RESAMPLES):
        per_example = diff[rng.integers(0, n_seeds, n_seeds)].mean(0) if seeds else every_seed
        out[i] = per_example[rng.integers(0, n, n)].mean() if examples else per_example.mean()
    return out


def analyse(base: Path, preds: dict[str, pd.DataFrame], splits: tuple[str, ...] = SPLITS) -> pd.DataFrame:
    """Each pair of roles over the seeds both have predictions for."""
    rng = np.random.default_rng(0)
    sel = selection(base).set_index("role")
    rows = []

    def name_of(role: str) -> str:
        return f"{role} ({sel.loc[role, 'baseline'] or sel.loc[role, 'sources']}, {sel.loc[role, 'peft_params']:,})"

    for a, b in itertools.combinations(preds, 2):
        seeds = sorted(set(preds[a]["seed"]) & set(preds[b]["seed"]))
        for split in splits:
            ca, cb = correct(preds[a], split, seeds), correct(preds[b], split, seeds)
            row = {"split": split, "a": name_of(a), "b": name_of(b), "seeds": len(seeds), "examples": ca.shape[1],
                   "gap": (ca - cb).mean(), "discordance": float((ca != cb).mean())}
            for label, seeds_too, examples in RESAMPLINGS:
                boot = bootstrap(ca, cb, seeds_too, examples, rng)
                row[f"ci_{label}"] = f"[{np.quantile(boot, 0.025):+.4f}, {np.quantile(boot, 0.975):+.4f}]"
                row[f"p_{label}"] = float(min(1.0, 2 * min((boot <= 0).mean(), (boot >= 0).mean())))
            rows.append(row)
    return pd.DataFrame(rows)


def table(df: pd.DataFrame, checks: dict[str, str]) -> str:
    lines = ["| split | a | b | seeds | examples | gap a - b | discordance | 95% interval, seeds resampled | p "
             "| examples resampled | p | seeds and examples resampled | p |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in df.itertuples():
        lines.append(f"| {r.split} | {r.a} | {r.b} | {r.seeds} | {r.examples:,} | {r.gap:+.4f} "
                     f"| {r.discordance:.3f} | {r.ci_seeds} | {r.p_seeds:.3f} | {r.ci_examples} | {r.p_examples:.3f} "
                     f"| {r.ci_seeds_and_examples} | {r.p_seeds_and_examples:.3f} |")
    lines += ["", *(f"- {role}: {text}" for role, text in checks.items())]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = study_parser(__doc__, "split_error.csv and split_error.md")
    args = ap.parse_args()
    base = HERE / args.machine / CONFIG
    if args.analyse:
        preds = {role: p for role in ROLES if (p := predictions(base, role)) is not None}
        whole = {role: p for role in preds if (p := predictions(base, role, VARIANTS[1][0])) is not None}
        checks = {role: check_same_models(base, role, p) for role, p in preds.items()}
        for role, w in whole.items():
            checks[role] += "; eval=all: " + check_same_as_scored(w, preds[role])
        df = pd.concat([analyse(base, preds), analyse(base, {r: widened(w) for r, w in whole.items()},
                                                      (UNSCORED, WIDE))], ignore_index=True)
        df.to_csv(HERE / args.machine / "split_error.csv", index=False)
        text = table(df, checks)
        (HERE / args.machine / "split_error.md").write_text(text)
        print(text)
        return
    threads = ["--threads", str(args.threads)] if args.threads else []
    for step in steps(base, threads):
        if not step.done():
            run_step(step, base / "log")


if __name__ == "__main__":
    main()
