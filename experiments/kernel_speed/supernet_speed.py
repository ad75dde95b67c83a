"""How fast is a supernet training step with the fused kernels against the plain hooks (issue 22)?

MiniLM / tweet_sentiment, space `full`, 0.5% budget, the default sandwich (largest, smallest, one
random sub-network per step, batch 32), under the supernet's own bf16 autocast where the CPU has
fast bf16 (and in fp32). Each (kernels, dtype) path is its own trainer on the same worker, built
once; rounds run the paths round-robin, `--steps` timed steps each after one untimed step, so a
shared machine's load falls on every path alike. A path's ratio is the median over rounds of its
time over plain's in the same round and dtype. Writes `<machine>/supernet_steps.csv`.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/kernel_speed/supernet_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
PATHS = [("plain", "bfloat16"), ("fused", "bfloat16"), ("plain", "float32"), ("fused", "float32")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2)
    args = ap.parse_args()

    from autopeft.evaluators.supernet import SupernetPlan, SupernetTrainer
    from autopeft.evaluators.tasks import task_ref
    from autopeft.evaluators.worker import Worker, WorkerSpec
    from autopeft.space.budget import parse_budget
    from autopeft.space.loader import bind_space

    worker = Worker(WorkerSpec(task_ref("tweet_sentiment"), threads=args.threads))
    bound = bind_space("full", worker.config, worker.task.spec.num_labels)
    budget = parse_budget("0.5%", bound.dims.backbone_params)
    rows = []
    for r in range(args.rounds):
        for kernels, dtype in PATHS:
            # one trainer at a time on the worker's backbone (a supernet's hooks own the model while it
            # lives), fresh each round: every path times the same steps (the same sub-networks)
            plan = SupernetPlan(steps=1 + args.steps, train_dtype=dtype)
            trainer = SupernetTrainer(worker.model, worker.task, bound, budget, plan, seed=0, device=worker.device,
                                      kernels=kernels)
            try:
                trainer.train(steps=1)  # untimed: the first step's allocations
                start, cpu = time.perf_counter(), time.process_time()
                trainer.train()
                wall, cpu = time.perf_counter() - start, time.process_time() - cpu
            finally:
                trainer.close()
            rows.append({"round": r, "kernels": kernels, "dtype": dtype, "s_per_step": round(wall / args.steps, 4),
                         "cpu_s_per_step": round(cpu / args.steps, 4), "load1": round(os.getloadavg()[0], 2),
                         "threads": args.threads})
            print(rows[-1], flush=True)
    out = HERE / args.machine
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "supernet_steps.csv", index=False)
    for dtype in ("bfloat16", "float32"):
        ratios = []
        for r in range(args.rounds):
            t = {row["kernels"]: row["s_per_step"] for row in rows if row["round"] == r and row["dtype"] == dtype}
            ratios.append(t["fused"] / t["plain"])
        print(f"{dtype}: fused / plain step time, median over {args.rounds} rounds: {statistics.median(ratios):.3f}")


if __name__ == "__main__":
    main()
