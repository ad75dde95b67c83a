"""How search_quality's runner runs a step: one CLI command in its own process, its output to a log,
a lock so two runners can share a queue, the machine's load while it ran, the search's timeline
(from its study, which is not committed) and a line in steps.csv. run.py says what to run."""

from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent
CLI = str(Path(sys.executable).with_name("autopeft"))


@dataclass
class Step:
    """One command and the file whose existence means it is done."""

    name: str
    command: list[str]
    done_file: Path
    resume_dir: Path | None = None  # a search: continued with --resume when it was killed
    fresh_dir: Path | None = None  # a search that starts again from scratch when it was killed
    # a search that continues another's finished run to more trials: the run is copied from
    # `continues` into `resume_dir`, then resumed with `--trials trials`
    continues: Path | None = None
    trials: int | None = None
    # called under the step's lock before its command, so that listing a queue (a dry run) writes
    # nothing: it writes what the command reads, or the result itself when an identical run has it
    prepare: Callable[[], None] | None = None

    def done(self) -> bool:
        if self.resume_dir is not None or self.fresh_dir is not None:
            run = self.resume_dir or self.fresh_dir
            assert run is not None
            return finished(run) and (self.trials is None or _trials_done(run) >= self.trials)
        return self.done_file.is_file()

    def argv(self) -> list[str]:
        if self.resume_dir is not None and (self.resume_dir / "study.db").is_file():
            more = ["--trials", str(self.trials)] if self.trials is not None else []
            return [CLI, "search", "--resume", str(self.resume_dir), *more]
        return self.command


def _trials_done(run: Path) -> float:
    return float(json.loads((run / "run.json").read_text()).get("trials_done") or 0)


def finished(run: Path) -> bool:
    """Whether a search's run directory records a finished search."""
    return (run / "run.json").is_file() and json.loads((run / "run.json").read_text()).get("status") == "finished"


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
        if step.prepare is not None:
            step.prepare()
            if step.done():
                return False  # its result was copied from an identical earlier run: nothing to run
        if step.fresh_dir is not None and step.fresh_dir.is_dir():
            shutil.rmtree(step.fresh_dir)  # a clock run stopped part-way: its clock cannot resume
        if step.continues is not None and step.resume_dir is not None and not step.resume_dir.is_dir():
            part = step.resume_dir.with_name(step.resume_dir.name + ".copying")  # renamed whole: a runner
            shutil.rmtree(part, ignore_errors=True)  # never sees a half copy (without its study) and drops it
            shutil.copytree(step.continues, part, ignore=shutil.ignore_patterns(".lock"))
            part.rename(step.resume_dir)
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


def _alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True
