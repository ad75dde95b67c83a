"""The default search's trials per hour before and after issue 22, timed end to end (item 4).

Two `autopeft search` processes on the embedded defaults run side by side, one thread each, so a
shared machine's load falls on both alike:
- `before`: `--kernels plain --precision fp32`, how trials trained and were scored before issue 22;
- `after`: the defaults (`--kernels auto --precision auto`: fused, and bf16 here).

Both start from the hand-designed baselines (`mobo:start=baselines`, the default), so their first
trials are the same candidates with the same seed, whatever the scores. Each search counts its own
CPU time (`--clock cpu`), so each trial's `elapsed_s` is on that clock. The process's CPU time
(os.wait4) covers everything: loading, trials, the optimiser, the front's test scores. Trials
per hour = 3600 x trials / the process's CPU seconds; "same scores" is read from the paired trials.
Writes `<machine>/search_rate.csv` (one row per trial) and `<machine>/search_rate_summary.csv`.

    .venv/bin/python experiments/kernel_speed/search_rate.py --trials 4
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
CLI = str(Path(sys.executable).with_name("autopeft"))
PATHS = {"before": ["--kernels", "plain", "--precision", "fp32"], "after": []}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="cpu")
    ap.add_argument("--trials", type=int, default=4)
    ap.add_argument("--summarise-only", action="store_true",
                    help="rebuild the CSVs from the kept runs and the summary's process CPU seconds")
    args = ap.parse_args()
    out = HERE / args.machine
    runs = out / "runs" / "search_rate"  # not committed (runs/ is ignored): the CSVs are
    if args.summarise_only:
        kept = pd.read_csv(out / "search_rate_summary.csv")
        summarise(out, runs, dict(zip(kept["path"], kept["process_cpu_s"], strict=True)))
        return
    shutil.rmtree(runs, ignore_errors=True)  # a timing restarts whole: a resumed search restarts its clock
    runs.mkdir(parents=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {}
    for label, extra in PATHS.items():
        cmd = [CLI, "search", "--task", "tweet_sentiment", "--seed", "0", "--trials", str(args.trials),
               "--clock", "cpu", "--out", str(runs / label), *extra]
        log = (runs / f"{label}.log").open("w")
        procs[label] = (subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), cmd)
    cpu = {}
    for label, (proc, cmd) in procs.items():
        _, status, usage = os.wait4(proc.pid, 0)
        if status != 0:
            raise SystemExit(f"{label} search failed ({status}): {' '.join(cmd)}")
        cpu[label] = usage.ru_utime + usage.ru_stime
    summarise(out, runs, cpu)


def elapsed_by_trial(run: Path) -> dict[int, float]:
    """Each trial's `elapsed_s` (on the search's clock, here its CPU time) from the kept study."""
    import optuna

    from autopeft.search import record

    study = optuna.load_study(study_name=record.STUDY, storage=f"sqlite:///{run / 'study.db'}")
    return {t.number: t.user_attrs["elapsed_s"] for t in study.get_trials(deepcopy=False)
            if "elapsed_s" in t.user_attrs}


def summarise(out: Path, runs: Path, cpu: dict[str, float]) -> None:
    rows, summary = [], []
    for label in PATHS:
        run = json.loads((runs / label / "run.json").read_text())
        trials = list(csv.DictReader((runs / label / "trials.csv").open()))
        elapsed, previous = elapsed_by_trial(runs / label), 0.0
        for t in trials:
            at = elapsed.get(int(t["trial"]))
            rows.append({"path": label, "trial": t["trial"], "summary": t["summary"], "peft_params": t["peft_params"],
                         "score": t["score"], "test_score": t["test_score"],
                         "trial_cpu_s": round(at - previous, 1) if at is not None else "", "wall_s": t["wall_s"]})
            previous = at if at is not None else previous
        summary.append({"path": label, "kernels": run["kernels"]["used"], "precision": run["precision"]["used"],
                        "trials": len(trials), "process_cpu_s": round(cpu[label], 1),
                        "trials_per_cpu_hour": round(3600 * len(trials) / cpu[label], 2),
                        "search_clock_s": run.get("clock_s"), "wall_s": run.get("wall_s")})
    before, after = (s["trials_per_cpu_hour"] for s in summary)
    for s in summary:
        s["x_before"] = round(s["trials_per_cpu_hour"] / before, 3)
    for name, table in (("search_rate.csv", rows), ("search_rate_summary.csv", summary)):
        pd.DataFrame(table).to_csv(out / name, index=False)
    print(*summary, sep="\n")
    print(f"after / before trials per CPU hour: {after / before:.3f}")

if __name__ == "__main__":
    main()
