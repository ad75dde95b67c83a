"""Training speed of the trainer's pieces: lora-r8 on MiniLM / tweet_sentiment, batch 32, max length
128, with and without dynamic padding (and length grouping) and backbone dropout.

    .venv/bin/python experiments/train_speed/run.py --steps 20 --threads 2

Each configuration: a fresh model, lora-r8 attached, 3 untimed warm-up steps, then `--steps`
timed optimizer steps on the same seeded batches. `cpu_s_per_step` is the process's CPU time per
step (all threads): on a shared machine it moves far less with other jobs than wall time. Peak
memory is the process RSS rise over the steps (the trainer's CPU measure). Writes results.csv
(appends) with the 1-minute load average, since a shared machine's other jobs slow rows
unevenly: run several rounds and compare minima.
"""

from __future__ import annotations

import argparse
import csv
import os
import time
from pathlib import Path

import numpy as np
import torch

from autopeft.backbones import load_config, load_task_model, resolve_model_path
from autopeft.evaluators.batches import collate, train_batches
from autopeft.evaluators.cache import encode_task
from autopeft.evaluators.memory import PeakMemory
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.trainer import build_optimizer, seed_everything
from autopeft.methods.anatomy import dims_from_config, resolve
from autopeft.methods.attach import apply
from autopeft.space.baselines import baseline

HERE = Path(__file__).resolve().parent
CONFIGS = {  # name: (dynamic padding, length grouping, dropout)
    "static128+dropout": (False, False, 0.1),
    "static128": (False, False, 0.0),
    "dynamic+dropout": (True, False, 0.1),
    "dynamic": (True, False, 0.0),
    "dynamic+grouped+dropout": (True, True, 0.1),
    "dynamic+grouped (default)": (True, True, 0.0),
}


def measure(name: str, dynamic: bool, grouped: bool, dropout: float, steps: int, task, dims) -> dict:
    """Steps/s, mean padded length and peak RSS rise of one configuration."""
    seed_everything(0)
    model = load_task_model("minilm", 3, dropout=dropout)
    attached = apply(model, baseline("lora-r8", dims))
    opt = build_optimizer(attached, 1e-3)
    train = task.splits["train"]
    batches = train_batches(train.lengths, 32, np.random.default_rng(0), grouped)
    widths = []

    def step() -> None:
        batch = collate(task, train, next(batches), None if dynamic else 128)
        widths.append(batch["input_ids"].shape[1])
        model(**batch).loss.backward()
        torch.nn.utils.clip_grad_norm_([p for g in opt.param_groups for p in g["params"]], 1.0)
        opt.step()
        opt.zero_grad(set_to_none=True)

    for _ in range(3):
        step()
    widths.clear()
    with PeakMemory("cpu") as mem:
        start, cpu_start = time.perf_counter(), time.process_time()
        for _ in range(steps):
            step()
        elapsed, cpu = time.perf_counter() - start, time.process_time() - cpu_start
    return {"config": name, "dynamic_padding": dynamic, "length_grouped": grouped, "dropout": dropout,
            "steps": steps, "s_per_step": round(elapsed / steps, 3), "steps_per_s": round(steps / elapsed, 3),
            "cpu_s_per_step": round(cpu / steps, 3),
            "mean_batch_len": round(float(np.mean(widths)), 1), "peak_rss_rise_mb": round(mem.peak_mb, 1),
            "threads": torch.get_num_threads(), "load_avg_1m": round(os.getloadavg()[0], 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--only", nargs="*", help="configuration names to run (default all)")
    parser.add_argument("--repeats", type=int, default=1, help="rounds over all configurations (compare minima)")
    parser.add_argument("--out", type=Path, default=HERE / "results.csv")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    config = load_config("minilm")
    dims = dims_from_config(config, resolve(config))
    task = encode_task(task_ref("tweet_sentiment"), resolve_model_path("minilm"), config, 128)
    new = not args.out.exists()
    with args.out.open("a", newline="") as f:
        writer = None
        rounds = [(r, n, c) for r in range(args.repeats) for n, c in CONFIGS.items() if not args.only or n in args.only]
        for repeat, name, (dynamic, grouped, dropout) in rounds:
            row = {"round": repeat, **measure(name, dynamic, grouped, dropout, args.steps, task, dims)}
            print(row, flush=True)
            if writer is None:
                writer = csv.DictWriter(f, fieldnames=list(row))
                if new:
                    writer.writeheader()
            writer.writerow(row)
            f.flush()


if __name__ == "__main__":
    main()
