"""What one random draw of a candidate costs: uniform (NOAH's rule: each gene uniform, rejected
until it fits the budget, repaired after 2,000 tries) against mixed (a density first) draws, in
the `full` and `noah` spaces on MiniLM at a 0.5% budget. Writes sample_speed.csv here.

    .venv/bin/python experiments/supernet/sample_speed.py
"""

from __future__ import annotations

import csv
import random
import statistics
import time
from pathlib import Path

from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import Worker, WorkerSpec
from autopeft.space.budget import parse_budget
from autopeft.space.loader import bind_space

HERE = Path(__file__).resolve().parent
DRAWS = 20


def main() -> None:
    worker = Worker(WorkerSpec(task_ref("tweet_sentiment"), threads=2))
    with (HERE / "sample_speed.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["space", "mode", "draws", "seconds_per_draw", "median_peft_params", "budget"])
        for name in ("full", "noah"):
            bound = bind_space(name, worker.config, worker.task.spec.num_labels)
            budget = parse_budget("0.5%", bound.dims.backbone_params)
            for mode in ("uniform", "mixed"):
                rng = random.Random(0)
                start = time.perf_counter()
                params = [bound.params(bound.sample(rng, budget, mode=mode)[1]) for _ in range(DRAWS)]
                per_draw = (time.perf_counter() - start) / DRAWS
                w.writerow([name, mode, DRAWS, round(per_draw, 4), int(statistics.median(params)), budget])
                print(name, mode, f"{per_draw:.4f} s/draw", flush=True)


if __name__ == "__main__":
    main()
