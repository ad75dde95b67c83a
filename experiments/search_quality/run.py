"""Is a search worth running? The user's table: searches, AdaLoRA and the hand-designed baselines,
each pick retrained the way a user then trains it (`standard`, a fresh seed) and scored on `test`.

One resumable queue of steps per task and budget; each step is a CLI command a user could type
(`autopeft search ...`, `autopeft train ...`), run in its own process, and skipped once its output
exists (a killed search is continued with `--resume`). Run it again to continue where it stopped:

    .venv/bin/python experiments/search_quality/run.py --machine cpu            # every config, in order
    .venv/bin/python experiments/search_quality/run.py --machine cpu --only tweets-0.5 --dry-run

Results go to `<machine>/<config>/`: `runs/<step>/` (run.json, trials.csv, front.csv of each
search; result.json of each training), then `analyse.py` writes the tables and plots from them.
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from functools import partial
from pathlib import Path

from retraining import picks, prepare_retrain, retrain_target  # noqa: I001 (this folder's modules)
from steps import CLI, Step, _alive, finished, run_step, write_timeline

from autopeft.search.settings import parse_duration

HERE = Path(__file__).resolve().parent
SEARCH_SEEDS = (0, 1, 2)
RETRAIN_SEEDS = (100, 101, 102)  # fresh seeds: no search trained with them
RETRAIN_FIDELITY = "standard"
TOP_BASELINES = 3
TRAIN_THREADS: int | None = None  # --threads
ALWAYS_RETRAIN = ("lora-r8",)  # the peft docs' default: the user's first alternative, retrained even if not top 3
# every step in float32, as the table's first rows were measured before `--precision auto` (bf16 here)
# became the default; experiments/precision found bf16's scores within 0.0009 of these
PRECISION = ["--precision", "fp32"]


@dataclass(frozen=True)
class Config:
    """One task at one budget."""

    name: str
    task: str
    model: str
    budget: str

    def args(self) -> list[str]:
        return ["--task", self.task, "--model", self.model]


CONFIGS = {c.name: c for c in (
    Config("tweets-0.5", "tweet_sentiment", "minilm", "0.5%"),
    Config("tweets-0.05", "tweet_sentiment", "minilm", "0.05%"),
    Config("mnist-0.5", "mnist_5k", "vit-fmnist", "0.5%"),
)}
# (label, extra search options): the README's command with only task/model/budget changed as it was
# first measured (`mobo` with the max-min start, pinned since `start=baselines` became the default),
# AdaLoRA, the search restricted to what peft can load (its start pinned too), and `warm`, the
# baselines-first start measured as a design change, the default since
MAXMIN = ["--strategy", "mobo:start=maxmin"]
# `asha` (issue 21): multi-fidelity up to `standard`, the length the user's table retrains at, with
# the default search's training budget counted in steps, not in time (a shared machine's load moves
# time): 4 trials' worth of `standard` (1,200 steps, each rung counting its share) against the default
# search's 10 trials of `quick` (1,000 steps); pinned to the rungs and rung scoring it was measured
# with (33 / 100 / 300 steps, every rung on all 2,000 dev tweets), asha's defaults before `eval=scaled`
ASHA = ["--strategy", "asha:rungs=3:eval=full", "--fidelity", "standard", "--trials", "4"]
# `asha2` (issue 19, item 3): selection at `quick` is close to a draw among the top candidates
# (selection.csv), so the top third at 100 steps is confirmed at 300 before the pick: asha with two
# rungs (100 and 300 steps) up to `standard`, every rung on all 2,000 dev tweets, the same steps as `asha`
ASHA2 = ["--strategy", "asha:rungs=2:eval=full", "--fidelity", "standard", "--trials", "4"]
# `asha2s`: the same, the top third by dev score (`promote=score`) rather than MO-ASHA's order, which
# confirmed small candidates and never the best 100-step score on asha2's first seed
ASHA2S = ["--strategy", "asha:rungs=2:eval=full:promote=score", "--fidelity", "standard", "--trials", "4"]
# `asha2s_r1`: the same in `full` with LoRA rank 1 in its grid (full_r1.yaml): at 0.05% of MiniLM and
# at MNIST's 0.5% the fitting LoRA baseline is rank 1 on q,v, which `full` cannot express, so the
# search's baselines-first start could not start from it (the best baseline on tweets at 0.05%)
ASHA2S_R1 = [*ASHA2S, "--space", str(HERE / "full_r1.yaml")]
# `warm_tied`: the default search in a structured space (full_tied.yaml: one choice per method shared
# by every layer, LoRA rank 1 in the grid; 23 genes against `full`'s 133), so that 10 trials cover
# more of it and the baselines that treat all layers alike are its points
WARM_TIED = ["--strategy", "mobo:start=baselines", "--space", str(HERE / "full_tied.yaml")]
# `asha2s_tied`: the two changes that helped where the other did not, together: `asha2s`'s confirmation
# at 300 steps (it picked (IA)³ on every MNIST seed) in `warm_tied`'s structured space (its (IA)³ subsets
# led on tweets at 0.05%)
ASHA2S_TIED = [*ASHA2S, "--space", str(HERE / "full_tied.yaml")]
# `warm20`: the default search with 20 trials, not 10. With bf16 autocast the README's search takes about
# 4 minutes of the 10 it may take (experiments/default_search), so the trials a default could hold
# doubled. Each seed continues `warm`'s finished run of the same seed (`--resume --trials 20`: its first
# 10 trials are `warm`'s own, in fp32 like every arm here), so only the 10 more trials are trained and
# the pair differs in nothing but the trials.
WARM20 = ["--strategy", "mobo:start=baselines", "--trials", "20"]
CONTINUES = {"warm20": ("warm", 20)}  # label: (the arm whose runs it continues, to this many trials)
# `warm_dev5k`: the default search scoring each trial on the whole dev split (5,000 tweets) rather than
# the 2,000 every fidelity scores by default. Leads among the top candidates are about half a point, and
# a 2,000-tweet score moves by about that between two candidates (headroom: at 0.05% the per-seed dev and
# test gaps of two candidates 0.005 apart are uncorrelated), so selection may be blind at 2,000; this
# costs about a third more time per trial. MNIST-5k's dev split is 200 images, all scored already.
WARM_DEV5K = ["--strategy", "mobo:start=baselines", "--fidelity", "quick,eval=all"]
# `warm_region`: the default search with a trust region: after its first trials, every proposal within 4
# modules (added, removed or resized) of the best trial so far (mobo's `region`). The default search keeps
# the best baseline on most seeds while its acquisitions propose far-away hybrids at the budget's edge; the
# one hybrid known to beat (IA)³ on values and keys at 0.05% shares most of its modules
WARM_REGION = ["--strategy", "mobo:start=baselines:region=4"]
# `warm_prefix`: the default search scoring each trial after the first 100 steps of the 300-step schedule it
# is retrained with (`standard,stop=100`: quick's cost) rather than after `quick`'s own 100-step schedule. The
# 9,988-parameter hybrid that leads (IA)³ on values and keys at 0.05% (headroom found-1) was trial 2 of the
# default search's seed 0, ranked below (IA)³ at `quick` (0.6165 against 0.6415), and above it at that prefix
# (0.6755 in asha2s seed 0, against 0.6615 in asha2s_tied seed 0)
WARM_PREFIX = ["--strategy", "mobo:start=baselines", "--fidelity", "standard,stop=100"]
SEARCHES = (("mobo", MAXMIN), ("adalora", ["--strategy", "adalora"]), ("peft", ["--exportable", "peft", *MAXMIN]),
            ("warm", ["--strategy", "mobo:start=baselines"]), ("asha", ASHA), ("asha2", ASHA2),
            ("asha2s", ASHA2S), ("asha2s_r1", ASHA2S_R1),
            ("warm_tied", WARM_TIED), ("asha2s_tied", ASHA2S_TIED), ("warm20", WARM20),
            ("warm_dev5k", WARM_DEV5K), ("warm_region", WARM_REGION), ("warm_prefix", WARM_PREFIX))
# the strategies at equal time: each search stops at the same limit of CPU time (its optimiser's and
# supernet's time counted), on one config
CLOCK_CONFIG = "tweets-0.5"
CLOCK_STRATEGIES = ("random", "mobo", "warm", "auto", "autopeft-paper", "noah-paper", "adalora", "asha", "asha-r2",
                    "asha-r2e")
CLOCK_LIMIT = "10m"
# Machines of this kind differ: the same `lora-r8` trial at `quick` took 87-91 CPU-seconds on the
# machine the first clock seeds ran on and 2-3x that on a later AVX2-only one, so an equal CPU limit
# is not equal work across sessions. A runner first times that trial on its machine (`warm`'s first
# trial, one thread, fp32) and scales the limit by its time over CLOCK_REFERENCE_S, the mean of the
# three `warm` seeds' first trials on the first machine (clock/warm-s*/timeline.csv); analyse.py
# puts each run's time back on the reference machine's scale (run.json's time limit over 10 minutes).
# One number per machine: work that speeds up differently (the supernet's) is only approximately
# rescaled, so seeds compare best within one machine (run.json's `machine` names it).
CLOCK_REFERENCE_S = 89.2
# mobo as the clock's first runs measured it (the max-min start, the default then), and `warm`, the
# default search since (baselines first: asha starts from the baselines too, so this is the mobo it
# must beat); asha at the same final fidelity as the others (`quick`), so that the fronts'
# hypervolumes compare (its user's-table row climbs to `standard`, where the picks are retrained)
# asha-r2: asha's two top rungs only (33 and 100 steps at `quick`): its 11-step rung scored the
# majority class on both of the first two seeds, so the bottom-rung recommendation is tested here;
# asha-r2e: the same, its 33-step rung scored on 660 dev tweets, not 2,000 (`eval=scaled`), asha's
# defaults since this measurement; `asha` and `asha-r2` are pinned to the rungs and scoring they ran
CLOCK_OPTIONS = {"mobo": ["mobo:start=maxmin"], "warm": ["mobo:start=baselines"],
                 "asha": ["asha:rungs=3:eval=full"], "asha-r2": ["asha:rungs=2:eval=full"],
                 "asha-r2e": ["asha:rungs=2:eval=scaled"]}
VARIANTS = [label for label, _ in SEARCHES]  # --variants: the searches this runner starts
STARTED_SEEDS = SEARCH_SEEDS  # --seeds: the search seeds this runner starts (each keeps its retraining seed)
CLOCK_STARTED = CLOCK_STRATEGIES  # --clock-strategies: the clock's strategies this runner starts
CLOCK_CALIBRATION: Path | None = None  # this runner's calibration run (clock_calibration)


def search_steps(cfg: Config, base: Path, label: str, extra: list[str], seeds=SEARCH_SEEDS) -> list[Step]:
    out = []
    for seed in seeds:
        run = base / "runs" / f"{label}-s{seed}"
        cmd = [CLI, "search", *cfg.args(), "--budget", cfg.budget, "--seed", str(seed), "--out", str(run), *extra,
               *PRECISION]
        if label in CONTINUES:
            source, trials = CONTINUES[label]
            src = base / "runs" / f"{source}-s{seed}"
            if finished(src) and (src / "study.db").is_file():  # else not ready (or not run at this config)
                out.append(Step(f"search {label} seed {seed}", cmd, run / "run.json", resume_dir=run, continues=src,
                                trials=trials))
            continue
        out.append(Step(f"search {label} seed {seed}", cmd, run / "run.json", resume_dir=run))
    return out


def clock_calibration(base: Path) -> float | None:
    """This machine's CPU-seconds for the reference trial (CLOCK_REFERENCE_S's `lora-r8` at `quick`),
    timed once per runner process into `clock/calibration/<UTC time>/` (kept: the record of the
    scale); None while it has not run (a dry run)."""
    global CLOCK_CALIBRATION
    if CLOCK_CALIBRATION is None:
        CLOCK_CALIBRATION = base / "clock" / "calibration" / time.strftime("%Y%m%dT%H%M%S", time.gmtime())
    run = CLOCK_CALIBRATION
    timeline = run / "timeline.csv"
    if not timeline.is_file():
        return None
    import pandas as pd

    tl = pd.read_csv(timeline)
    return float(tl[(tl["kind"] == "search") & (tl["trial"].astype(str) == "0")]["elapsed_s"].iloc[0])


def calibration_step(cfg: Config, base: Path) -> Step:
    """`warm`'s first trial alone (the fitting baselines start with `lora-r8`), on the CPU clock."""
    clock_calibration(base)
    assert CLOCK_CALIBRATION is not None
    cmd = [CLI, "search", *cfg.args(), "--budget", cfg.budget, "--seed", "0", "--strategy",
           *CLOCK_OPTIONS["warm"], "--trials", "1", "--clock", "cpu", "--no-test-scores",
           "--out", str(CLOCK_CALIBRATION), *PRECISION]
    return Step("clock calibration (the reference trial)", cmd, CLOCK_CALIBRATION / "timeline.csv",
                fresh_dir=CLOCK_CALIBRATION)


def clock_phase(cfg: Config, base: Path) -> list[Step]:
    """The clock's runs at this machine's limit, once the calibration has timed it."""
    reference = clock_calibration(base)
    if reference is None:
        return [calibration_step(cfg, base)]
    return clock_steps(cfg, base, f"{round(parse_duration(CLOCK_LIMIT) * reference / CLOCK_REFERENCE_S)}s")


# their supernet trains under bf16 autocast where the CPU does bf16 natively and in fp32 elsewhere,
# while the calibration's trial is fp32 everywhere: on a machine without native bf16 the one factor
# under-counts their work (auto's seed 1 on an AVX2-only EPYC: ../archive/search_quality_clock_other_machines)
SUPERNET_STRATEGIES = ("auto", "noah-paper")


def clock_comparable(strategy: str) -> bool:
    """Whether this machine's clock run of `strategy` compares with the reference machine's (which
    had native bf16): not a supernet strategy's on a CPU without it."""
    from autopeft.evaluators.precision import fast_bf16

    return strategy not in SUPERNET_STRATEGIES or fast_bf16("cpu")


def clock_steps(cfg: Config, base: Path, limit: str) -> list[Step]:
    """Each strategy, 3 seeds, stopped at the same limit of CPU time (`--clock cpu`, one thread): the
    wall time each would take alone on a core, however busy the shared machine is, scaled by this
    machine's speed (CLOCK_REFERENCE_S, `clock_phase`). A run stopped part-way starts again from
    scratch (a resumed search would restart its clock)."""
    out = []
    for seed in SEARCH_SEEDS:
        for strategy in (s for s in CLOCK_STRATEGIES if s in CLOCK_STARTED and clock_comparable(s)):
            run = base / "clock" / f"{strategy}-s{seed}"
            option = CLOCK_OPTIONS.get(strategy, [strategy])
            # no test scores: the clock compares fronts on dev over time (the first runs scored test too)
            cmd = [CLI, "search", *cfg.args(), "--budget", cfg.budget, "--seed", str(seed), "--strategy", *option,
                   "--time-limit", limit, "--clock", "cpu", "--no-test-scores", "--out", str(run), *PRECISION]
            out.append(Step(f"clock {strategy} seed {seed}", cmd, run / "run.json", fresh_dir=run))
    return out


def baseline_steps(cfg: Config, base: Path) -> list[Step]:
    """Every hand-designed baseline that fits, at the searches' fidelity (quick), scored on dev and test."""
    from autopeft.backbones import load_config
    from autopeft.methods.anatomy import dims_from_config, resolve
    from autopeft.space.baselines import fitted
    from autopeft.space.budget import parse_budget

    config = load_config(cfg.model)
    dims = dims_from_config(config, resolve(config))
    budget = parse_budget(cfg.budget, dims.backbone_params)
    out = []
    for name, _ in fitted(dims, budget):
        d = base / "runs" / "baselines" / name
        cmd = [CLI, "train", name, *cfg.args(), "--fidelity", "quick", "--seeds", "0", "--report", "--out", str(d),
               *PRECISION]
        out.append(Step(f"baseline {name} at quick", cmd, d / "result.json"))
    return out


def retrain_steps(cfg: Config, base: Path) -> list[Step]:
    """Each finished search's picks (one fresh seed each; of the --variants and --seeds this runner
    takes) and the best baselines (three seeds each)."""
    out = []
    for label, _ in SEARCHES:
        if label not in VARIANTS:
            continue
        for seed in STARTED_SEEDS:
            run = base / "runs" / f"{label}-s{seed}"
            if not finished(run):
                continue
            for which, row in picks(run):
                d = base / "runs" / "retrain" / f"{label}-s{seed}-{which}"
                fresh = RETRAIN_SEEDS[SEARCH_SEEDS.index(seed)]
                cmd = [CLI, "train", *retrain_target(row, d), *cfg.args(), "--fidelity", RETRAIN_FIDELITY,
                       "--seeds", str(fresh), "--report", "--out", str(d), *_threads(), *PRECISION]
                out.append(Step(f"retrain {label} seed {seed} {which} (trial {row['trial']})", cmd, d / "result.json",
                                prepare=partial(prepare_retrain, base, d, row, fresh)))
    # AdaLoRA as its user runs it: within the whole budget, at the retraining fidelity, three seeds
    d = base / "runs" / "retrain" / "user-adalora"
    cmd = [CLI, "train", "adalora", "--budget", cfg.budget, *cfg.args(), "--fidelity", RETRAIN_FIDELITY,
           "--seeds", ",".join(map(str, RETRAIN_SEEDS)), "--report", "--out", str(d), *_threads(), *PRECISION]
    out.insert(0, Step("retrain AdaLoRA as a user runs it", cmd, d / "result.json"))
    for name in best_baselines(base):
        d = base / "runs" / "retrain" / f"baseline-{name}"
        cmd = [CLI, "train", name, *cfg.args(), "--fidelity", RETRAIN_FIDELITY,
               "--seeds", ",".join(map(str, RETRAIN_SEEDS)), "--report", "--out", str(d), *_threads(), *PRECISION]
        out.append(Step(f"retrain baseline {name}", cmd, d / "result.json"))
    return out


def best_baselines(base: Path) -> list[str]:
    """The top baselines by dev score at quick, plus the peft docs' default; all baselines must be done."""
    rows = []
    for result in sorted((base / "runs" / "baselines").glob("*/result.json")):
        r = json.loads(result.read_text())
        if r.get("score") is not None:
            rows.append((r["score"], r["name"]))
    ranked = [name for _, name in sorted(rows, reverse=True)]
    chosen = ranked[:TOP_BASELINES]
    chosen += [n for n in ranked if n.partition("@")[0] in ALWAYS_RETRAIN and n not in chosen]
    return chosen


def queue(cfg: Config, base: Path) -> list[Step]:
    """The config's steps in order of priority (later steps may only exist once earlier ones are done)."""
    steps = search_steps(cfg, base, "mobo", MAXMIN, STARTED_SEEDS) if "mobo" in VARIANTS else []
    steps += baseline_steps(cfg, base)
    variants = [(label, extra) for label, extra in SEARCHES[1:] if label in VARIANTS]
    if not expressible_baselines(cfg):  # baselines first with none to start from is the max-min search
        variants = [(label, extra) for label, extra in variants if label != "warm"]
    for seed in STARTED_SEEDS:  # seed by seed, so every variant has a first result early
        for label, extra in variants:
            steps += search_steps(cfg, base, label, extra, seeds=(seed,))
    return steps


def expressible_baselines(cfg: Config) -> list[str]:
    """The fitting baselines the default space can express: what `mobo:start=baselines` starts with."""
    from autopeft.backbones import load_config
    from autopeft.space.baselines import fitted
    from autopeft.space.budget import parse_budget
    from autopeft.space.loader import bind_space

    bound = bind_space("full", load_config(cfg.model), 2)
    budget = parse_budget(cfg.budget, bound.dims.backbone_params)
    return [name for name, cand in fitted(bound.dims, budget) if bound.assignment_of(cand) is not None]


def study_parser(doc: str, outputs: str) -> argparse.ArgumentParser:
    """The options a follow-up study's script (headroom.py, unions.py) shares: where, which configs,
    how many threads, and --analyse (which writes `outputs`)."""
    ap = argparse.ArgumentParser(description=doc.splitlines()[0])
    ap.add_argument("--machine", default="cpu")
    ap.add_argument("--only", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--threads", type=int, default=None, help="torch threads of each training")
    ap.add_argument("--analyse", action="store_true", help=f"write {outputs} from the results")
    return ap


def _threads() -> list[str]:
    return ["--threads", str(TRAIN_THREADS)] if TRAIN_THREADS else []


PHASES = {"searches": queue, "retrain": retrain_steps, "clock": clock_phase}


def main() -> None:
    global TRAIN_THREADS, VARIANTS, STARTED_SEEDS, CLOCK_STARTED
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="cpu", help="results folder: cpu (this 2-core machine) or a device's name")
    ap.add_argument("--only", nargs="*", default=list(CONFIGS), choices=list(CONFIGS))
    ap.add_argument("--dry-run", action="store_true", help="print the steps still to run")
    ap.add_argument("--phases", nargs="*", default=list(PHASES), choices=list(PHASES),
                    help="searches (and baselines), retrain (the user's table), clock (strategies at equal wall clock)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads of the retrainings (autopeft train)")
    ap.add_argument("--while-alive", type=int, default=None,
                    help="repeat passes while this pid runs (a second runner retraining beside a search runner)")
    ap.add_argument("--variants", nargs="*", default=VARIANTS, choices=VARIANTS,
                    help="the searches this runner starts and retrains the picks of")
    ap.add_argument("--seeds", nargs="*", type=int, default=list(SEARCH_SEEDS), choices=SEARCH_SEEDS,
                    help="the search seeds this runner starts and retrains (the clock runs all three)")
    ap.add_argument("--clock-strategies", nargs="*", default=list(CLOCK_STRATEGIES), choices=CLOCK_STRATEGIES,
                    help="the clock's strategies to start (all seeds of each; the first three seeds of the closest "
                         "contenders before the rest)")
    args = ap.parse_args()
    TRAIN_THREADS, VARIANTS, STARTED_SEEDS = args.threads, args.variants, tuple(args.seeds)
    CLOCK_STARTED = tuple(args.clock_strategies)
    plan = [(name, phase) for name in args.only for phase in ("searches", "retrain") if phase in args.phases]
    if CLOCK_CONFIG in args.only and "clock" in args.phases:
        plan.append((CLOCK_CONFIG, "clock"))
    for run in (HERE / args.machine).glob("*/*/*-s*"):  # a runner stopped between a search and its timeline
        if (run / "study.db").is_file() and not (run / "timeline.csv").is_file() and finished(run):
            write_timeline(run)
    if (CLOCK_CONFIG, "clock") in plan and not args.dry_run:  # the clock's limit needs this machine's speed
        cfg, base = CONFIGS[CLOCK_CONFIG], HERE / args.machine / CLOCK_CONFIG
        step = calibration_step(cfg, base)
        if any(not s.done() for s in clock_steps(cfg, base, CLOCK_LIMIT)) and not step.done():
            run_step(step, base / "log")
    while True:
        ran = 0
        for name, phase in plan:
            cfg = CONFIGS[name]
            base = HERE / args.machine / name
            for step in PHASES[phase](cfg, base):
                if step.done():
                    continue
                if args.dry_run:
                    print(f"{name}: {step.name}: {' '.join(step.argv())}")
                    continue
                ran += run_step(step, base / "log") is not False
        if args.dry_run or args.while_alive is None or not _alive(args.while_alive):
            break
        if not ran:
            time.sleep(60)


if __name__ == "__main__":
    main()
