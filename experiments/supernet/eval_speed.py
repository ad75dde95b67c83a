"""How fast is one evaluation on the CPU: the batch size of length-sorted evaluation batches, and
fp32 against bfloat16 autocast (what a proxy score costs is one evaluation).

MiniLM / tweet_sentiment dev subsets, untrained head, each timing after a warm-up call. Writes
eval_speed.csv here (device, threads, CPU flags included).

    .venv/bin/python experiments/supernet/eval_speed.py
"""

from __future__ import annotations

import csv
import platform
import time
from pathlib import Path

import torch

import autopeft.evaluators.trainer as trainer
from autopeft.evaluators.supernet import proxy_precision
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import Worker, WorkerSpec

HERE = Path(__file__).resolve().parent


def timed(worker: Worker, n: int, batch: int, dtype: str) -> tuple[float, float]:
    """Seconds for one evaluation of `n` dev examples, and the dev loss it read."""
    trainer.EVAL_BATCH = {worker.device: batch}
    split = trainer.subset(worker.task.splits["dev"], n, False)
    with proxy_precision(worker.device, dtype):
        trainer.score_split(worker.model, worker.task, split, worker.device)  # warm-up
        start = time.perf_counter()
        values = trainer.score_split(worker.model, worker.task, split, worker.device)
    return time.perf_counter() - start, values["loss"]


def main() -> None:
    worker = Worker(WorkerSpec(task_ref("tweet_sentiment"), threads=2))
    bf16 = worker.device == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    rows = []
    for n in (200, 2000):
        for batch in (128, 64, 32, 16):
            rows.append((n, batch, "float32", *timed(worker, n, batch, "float32")))
    for n in (128, 200, 500):
        for dtype in ("float32", "bfloat16"):
            rows.append((n, 32, dtype, *timed(worker, n, 32, dtype)))
    with (HERE / "eval_speed.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["examples", "eval_batch", "dtype", "seconds", "dev_loss", "device", "threads",
                    "cpu_bf16_fast", "processor"])
        for row in rows:
            w.writerow([row[0], row[1], row[2], round(row[3], 3), round(row[4], 6), worker.device,
                        torch.get_num_threads(), bf16, platform.processor() or platform.machine()])
            print(row, flush=True)


if __name__ == "__main__":
    main()
