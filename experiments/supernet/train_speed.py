"""How fast is one supernet training step on the CPU, float32 against bfloat16 autocast.

MiniLM / tweet_sentiment, space `full`, 0.5% budget, the default sandwich (largest, smallest, one
random sub-network per step, batch 32). Each dtype is timed twice, alternating, over 10 steps
after 2 warm-up steps. Writes train_speed.csv here.

    .venv/bin/python experiments/supernet/train_speed.py
"""

from __future__ import annotations

import csv
import platform
import time
from pathlib import Path

import torch

from autopeft.evaluators.supernet import SupernetPlan, SupernetTrainer
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import Worker, WorkerSpec
from autopeft.space.budget import parse_budget
from autopeft.space.loader import bind_space

HERE = Path(__file__).resolve().parent
WARMUP, TIMED = 2, 10


def seconds_per_step(worker: Worker, bound, budget: int, dtype: str) -> float:
    plan = SupernetPlan(steps=WARMUP + TIMED, train_dtype=dtype)
    trainer = SupernetTrainer(worker.model, worker.task, bound, budget, plan, seed=0, device=worker.device)
    try:
        trainer.train(steps=WARMUP)
        start = time.perf_counter()
        trainer.train()
        return (time.perf_counter() - start) / TIMED
    finally:
        trainer.close()


def main() -> None:
    worker = Worker(WorkerSpec(task_ref("tweet_sentiment"), threads=2))
    bound = bind_space("full", worker.config, worker.task.spec.num_labels)
    budget = parse_budget("0.5%", bound.dims.backbone_params)
    fast_bf16 = worker.device == "cpu" and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    with (HERE / "train_speed.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["repeat", "dtype", "seconds_per_step", "device", "threads", "cpu_bf16_fast", "processor"])
        for repeat in (1, 2):
            for dtype in ("float32", "bfloat16"):
                s = seconds_per_step(worker, bound, budget, dtype)
                w.writerow([repeat, dtype, round(s, 4), worker.device, torch.get_num_threads(), fast_bf16,
                            platform.processor() or platform.machine()])
                print(repeat, dtype, f"{s:.3f} s/step", flush=True)


if __name__ == "__main__":
    main()
