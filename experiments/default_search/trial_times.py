"""When each standalone trial of a run started and ended (from its study.db), written to
trial_times.csv here or to OUT.

    .venv/bin/python experiments/default_search/trial_times.py runs/tweet_sentiment-<date>-<time> [OUT]
"""

from __future__ import annotations

import sys
from pathlib import Path

import optuna
import pandas as pd

from autopeft.search import record

HERE = Path(__file__).resolve().parent


def main(run_dir: str, out: str | None = None) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.load_study(study_name=record.STUDY, storage=f"sqlite:///{Path(run_dir) / 'study.db'}")
    rows = [{"trial": t.number, "started": t.datetime_start, "completed": t.datetime_complete}
            for t in study.get_trials(deepcopy=False) if t.datetime_complete]
    df = pd.DataFrame(rows)
    df.to_csv(out or HERE / "trial_times.csv", index=False)
    print(f"{len(df)} trials, {df.started.min()} to {df.completed.max()} ({df.completed.max() - df.started.min()})")


if __name__ == "__main__":
    main(*sys.argv[1:3])
