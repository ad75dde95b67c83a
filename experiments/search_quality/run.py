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
import csv
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLI = str(Path(sys.executable).with_name("autopeft"))
SEARCH_SEEDS = (0, 1, 2)
RETRAIN_SEEDS = (100, 101, 102)  # fresh seeds: no search trained with them
RETRAIN_FIDELITY = "standard"
TOP_BASELINES = 3
TRAIN_THREADS: int | None = None  # --threads
ALWAYS_RETRAIN = ("lora-r8",)  # the peft docs' default: the user's first alternative, retrained even if not top 3


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
# `asha` (issue 21): multi-fidelity up to `standard`, the length the user's table retrains at, for the
# default search's wall time on this machine (about 10 minutes), whatever its trial count
ASHA = ["--strategy", "asha", "--fidelity", "standard", "--time-limit", "10m"]
SEARCHES = (("mobo", MAXMIN), ("adalora", ["--strategy", "adalora"]), ("peft", ["--exportable", "peft", *MAXMIN]),
            ("warm", ["--strategy", "mobo:start=baselines"]), ("asha", ASHA))
# the strategies at equal time: each search stops at the same limit of CPU time (its optimiser's and
# supernet's time counted), on one config
CLOCK_CONFIG = "tweets-0.5"
CLOCK_STRATEGIES = ("random", "mobo", "auto", "autopeft-paper", "noah-paper", "adalora", "asha")
CLOCK_LIMIT = "10m"
# mobo as the clock's first runs measured it (the max-min start, the default then); asha at the
# same final fidelity as the others (`quick`), so that the fronts' hypervolumes compare (its
# user's-table row climbs to `standard`, where the picks are retrained)
CLOCK_OPTIONS = {"mobo": ["mobo:start=maxmin"]}
VARIANTS = [label for label, _ in SEARCHES]  # --variants: the searches this runner starts


@dataclass
class Step:
    """One command and the file whose existence means it is done."""

    name: str
    command: list[str]
    done_file: Path
    resume_dir: Path | None = None  # a search: continued with --resume when it was killed
    fresh_dir: Path | None = None  # a search that starts again from scratch when it was killed

    def done(self) -> bool:
        if self.resume_dir is not None or self.fresh_dir is not None:
            return finished(self.resume_dir or self.fresh_dir)
        return self.done_file.is_file()

    def argv(self) -> list[str]:
        if self.resume_dir is not None and (self.resume_dir / "study.db").is_file():
            return [CLI, "search", "--resume", str(self.resume_dir)]
        return self.command


def search_steps(cfg: Config, base: Path, label: str, extra: list[str], seeds=SEARCH_SEEDS) -> list[Step]:
    out = []
    for seed in seeds:
        run = base / "runs" / f"{label}-s{seed}"
        cmd = [CLI, "search", *cfg.args(), "--budget", cfg.budget, "--seed", str(seed), "--out", str(run), *extra]
        out.append(Step(f"search {label} seed {seed}", cmd, run / "run.json", resume_dir=run))
    return out


def clock_steps(cfg: Config, base: Path) -> list[Step]:
    """Each strategy, 3 seeds, stopped at the same limit of CPU time (`--clock cpu`, one thread): the
    wall time each would take alone on a core, however busy the shared machine is. A run stopped
    part-way starts again from scratch (a resumed search would restart its clock)."""
    out = []
    for seed in SEARCH_SEEDS:
        for strategy in CLOCK_STRATEGIES:
            run = base / "clock" / f"{strategy}-s{seed}"
            option = CLOCK_OPTIONS.get(strategy, [strategy])
            # no test scores: the clock compares fronts on dev over time (the first runs scored test too)
            cmd = [CLI, "search", *cfg.args(), "--budget", cfg.budget, "--seed", str(seed), "--strategy", *option,
                   "--time-limit", CLOCK_LIMIT, "--clock", "cpu", "--no-test-scores", "--out", str(run)]
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
        cmd = [CLI, "train", name, *cfg.args(), "--fidelity", "quick", "--seeds", "0", "--report", "--out", str(d)]
        out.append(Step(f"baseline {name} at quick", cmd, d / "result.json"))
    return out


def picks(run: Path) -> list[tuple[str, dict[str, str]]]:
    """A finished search's best front member and its knee where it differs."""
    from autopeft.export import rundir

    r = rundir.read_run(run)
    best, knee = rundir.best(r), rundir.knee(r)
    out = [("best", best)]
    if knee["trial"] != best["trial"]:
        out.append(("knee", knee))
    return out


def finished(run: Path) -> bool:
    """Whether a search's run directory records a finished search."""
    return (run / "run.json").is_file() and json.loads((run / "run.json").read_text()).get("status") == "finished"


def retrain_steps(cfg: Config, base: Path) -> list[Step]:
    """Each finished search's picks (one fresh seed each) and the best baselines (three seeds each)."""
    out = []
    for label, _ in SEARCHES:
        for seed in SEARCH_SEEDS:
            run = base / "runs" / f"{label}-s{seed}"
            if not finished(run):
                continue
            for which, row in picks(run):
                d = base / "runs" / "retrain" / f"{label}-s{seed}-{which}"
                fresh = RETRAIN_SEEDS[SEARCH_SEEDS.index(seed)]
                what = _retrain_target(row, d)
                cmd = [CLI, "train", *what, *cfg.args(), "--fidelity", RETRAIN_FIDELITY, "--seeds", str(fresh),
                       "--report", "--out", str(d), *_threads()]
                out.append(Step(f"retrain {label} seed {seed} {which} (trial {row['trial']})", cmd, d / "result.json"))
    # AdaLoRA as its user runs it: within the whole budget, at the retraining fidelity, three seeds
    d = base / "runs" / "retrain" / "user-adalora"
    cmd = [CLI, "train", "adalora", "--budget", cfg.budget, *cfg.args(), "--fidelity", RETRAIN_FIDELITY,
           "--seeds", ",".join(map(str, RETRAIN_SEEDS)), "--report", "--out", str(d), *_threads()]
    out.insert(0, Step("retrain AdaLoRA as a user runs it", cmd, d / "result.json"))
    for name in best_baselines(base):
        d = base / "runs" / "retrain" / f"baseline-{name}"
        cmd = [CLI, "train", name, *cfg.args(), "--fidelity", RETRAIN_FIDELITY,
               "--seeds", ",".join(map(str, RETRAIN_SEEDS)), "--report", "--out", str(d), *_threads()]
        out.append(Step(f"retrain baseline {name}", cmd, d / "result.json"))
    return out


def _retrain_target(row: dict[str, str], out: Path) -> list[str]:
    """What `autopeft train` is given for a pick: AdaLoRA's recipe at the pick's target (a user re-runs
    AdaLoRA, not its allocation), else the candidate as a JSON file."""
    recipe = json.loads(row.get("recipe") or "null")
    if recipe and recipe.get("method") == "adalora":
        return ["adalora", "--budget", str(recipe["target_params"])]
    out.mkdir(parents=True, exist_ok=True)
    path = out / "candidate.json"
    path.write_text(row["candidate"])
    return [str(path)]


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
    steps = search_steps(cfg, base, "mobo", MAXMIN) if "mobo" in VARIANTS else []
    steps += baseline_steps(cfg, base)
    variants = [(label, extra) for label, extra in SEARCHES[1:] if label in VARIANTS]
    if not expressible_baselines(cfg):  # baselines first with none to start from is the max-min search
        variants = [(label, extra) for label, extra in variants if label != "warm"]
    for seed in SEARCH_SEEDS:  # seed by seed, so every variant has a first result early
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


def _threads() -> list[str]:
    return ["--threads", str(TRAIN_THREADS)] if TRAIN_THREADS else []


PHASES = {"searches": queue, "retrain": retrain_steps, "clock": clock_steps}


def run_step(step: Step, log_dir: Path) -> bool:
    """Run one step, its output to a log; True when it ended well."""
    log_dir.mkdir(parents=True, exist_ok=True)
    if step.resume_dir is not None and step.resume_dir.is_dir() and not (step.resume_dir / "study.db").is_file():
        shutil.rmtree(step.resume_dir)  # the study is not committed: a search a session left unfinished restarts
    stem = step.name.replace(" ", "_").replace("/", "_")
    log = log_dir / (stem + ".log")
    lock = Lock(log_dir / (stem + ".lock"))
    with lock as mine:
        if not mine or step.done():
            return False  # another runner has it (two runners may share the queue), or it just finished
        if step.fresh_dir is not None and step.fresh_dir.is_dir():
            shutil.rmtree(step.fresh_dir)  # a clock run stopped part-way: its clock cannot resume
        return _run_locked(step, log_dir, log, lock)


class Lock:
    """An exclusive file lock naming its holder's pid; a dead holder's lock is taken over."""

    def __init__(self, path: Path):
        self.path, self.held = path, False

    def __enter__(self) -> bool:
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                if any(_alive(pid) for pid in _pids(self.path)):
                    return False
                self.path.unlink(missing_ok=True)
                continue
            os.write(fd, str(os.getpid()).encode())
            os.close(fd)
            self.held = True
            return True
        return False

    def add(self, pid: int) -> None:
        """Name the step's process too: a runner killed while its step goes on must not free the step."""
        with self.path.open("a") as f:
            f.write(f" {pid}")

    def __exit__(self, *exc: object) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)


def _pids(path: Path) -> list[int]:
    try:
        return [int(x) for x in path.read_text().split()]
    except (OSError, ValueError):
        return []


# how often a running step samples the 1-minute load average (load.json beside a search's timeline).
# `--clock cpu` takes out the time slicing of a shared machine, not its contention: CPU time itself
# grows when other processes share the cores and caches, so runs at very different loads still differ
LOAD_EVERY_S = 30


def _run_locked(step: Step, log_dir: Path, log: Path, lock: Lock) -> bool:
    argv = step.argv()
    t0 = time.time()
    print(f"[{time.strftime('%H:%M:%S')}] {step.name}: {' '.join(argv)}", flush=True)
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with log.open("a") as f:
        f.write(f"\n# {time.strftime('%Y-%m-%dT%H:%M:%S')} {_commit()} {' '.join(argv)}\n")
        f.flush()
        proc = subprocess.Popen(argv, stdout=f, stderr=subprocess.STDOUT, cwd=ROOT, env=env)
        lock.add(proc.pid)
        loads = []
        while True:  # the machine's load while the step ran: what the CPU clock cannot take out
            try:
                rc = proc.wait(timeout=LOAD_EVERY_S)
                break
            except subprocess.TimeoutExpired:
                loads.append(os.getloadavg()[0])
    wall = time.time() - t0
    run = step.resume_dir or step.fresh_dir
    if run is not None and (run / "study.db").is_file():
        write_timeline(run)
        if loads:
            (run / "load.json").write_text(json.dumps({"load1_mean": round(sum(loads) / len(loads), 2),
                                                       "load1_max": max(loads), "samples": len(loads),
                                                       "cpus": os.cpu_count()}) + "\n")
    _ledger(log_dir.parent, step, rc, wall)
    print(f"    rc {rc}, {wall:.0f} s", flush=True)
    return rc == 0


def write_timeline(run: Path) -> None:
    """timeline.csv: when each trial (and proxy score) started and ended, from the study, which is not
    committed; the wall-clock comparison reads it."""
    import optuna

    from autopeft.search import record
    from autopeft.search.proxy_record import SUFFIX

    rows = []
    storage = f"sqlite:///{run / 'study.db'}"
    for name, kind in ((record.STUDY, "search"), (record.STUDY + SUFFIX, "proxy")):
        try:
            study = optuna.load_study(study_name=name, storage=storage)
        except KeyError:
            continue
        for t in study.get_trials(deepcopy=False):
            rows.append({"kind": kind, "trial": t.number, "state": record.status_of(t),
                         "start": t.datetime_start, "complete": t.datetime_complete,
                         "elapsed_s": t.user_attrs.get("elapsed_s")})  # on the search's clock (--clock)
    with (run / "timeline.csv").open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["kind", "trial", "state", "start", "complete", "elapsed_s"])
        w.writeheader()
        w.writerows(rows)


def _ledger(base: Path, step: Step, rc: int, wall: float) -> None:
    """steps.csv: every command run, when, at which commit, how it ended, how long it took."""
    path = base / "steps.csv"
    new = not path.is_file()
    with path.open("a", newline="") as f:
        w = csv.writer(f)
        if new:
            w.writerow(["ended", "commit", "step", "rc", "wall_s", "command"])
        w.writerow([time.strftime("%Y-%m-%dT%H:%M:%S"), _commit(), step.name, rc, round(wall, 1),
                    " ".join(a.replace(str(ROOT) + "/", "") for a in step.argv())])


def _commit() -> str:
    """The commit of the autopeft the steps import: a runner may run a frozen worktree of the package
    (PYTHONPATH) while the checkout it writes into moves on."""
    import autopeft

    try:
        return subprocess.check_output(["git", "rev-parse", "--short", "HEAD"], text=True,
                                       cwd=Path(autopeft.__file__).resolve().parent).strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def main() -> None:
    global TRAIN_THREADS, VARIANTS
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
                    help="the searches to start (their retraining follows whichever searches finished)")
    args = ap.parse_args()
    TRAIN_THREADS, VARIANTS = args.threads, args.variants
    plan = [(name, phase) for name in args.only for phase in ("searches", "retrain") if phase in args.phases]
    if CLOCK_CONFIG in args.only and "clock" in args.phases:
        plan.append((CLOCK_CONFIG, "clock"))
    for run in (HERE / args.machine).glob("*/*/*-s*"):  # a runner stopped between a search and its timeline
        if (run / "study.db").is_file() and not (run / "timeline.csv").is_file() and finished(run):
            write_timeline(run)
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


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


if __name__ == "__main__":
    main()
