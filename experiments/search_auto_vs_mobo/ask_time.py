"""Seconds a strategy spent between trials (the previous trial's end to the next one's start:
choosing it, and for `auto` proxy-scoring it), read from the run directories' study.db:

    ask_time.py OUT.csv LABEL=RUN_DIR ...
"""

from __future__ import annotations

import sys

import optuna
import pandas as pd

from autopeft.search import record


def gaps(run_dir: str) -> list[float]:
    """Per trial after the first: its start minus the previous trial's end, in seconds."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=record.STUDY, storage=f"sqlite:///{run_dir}/study.db")
    done = sorted((t for t in study.get_trials(deepcopy=False) if t.datetime_complete), key=lambda t: t.number)
    return [(b.datetime_start - a.datetime_complete).total_seconds() for a, b in zip(done, done[1:], strict=False)]


def main(out: str, *runs: str) -> None:
    rows = []
    for spec in runs:
        label, _, run_dir = spec.partition("=")
        rows += [{"run": label, "trial": i + 2, "ask_s": round(g, 1)} for i, g in enumerate(gaps(run_dir))]
    df = pd.DataFrame(rows)
    df.to_csv(out, index=False)
    print(df.pivot(index="run", columns="trial", values="ask_s").to_string())


if __name__ == "__main__":
    main(*sys.argv[1:])
