"""Does `torch.compile` pay for itself in a trial (issue 22, item 3)?

A trial trains a model that exists for that trial alone (its candidate's modules and hooks), so a
compiled path pays its compile time in every trial. Per candidate and precision this measures the
compile time (the first compiled step, less an eager step) and the step time of the compiled model
against the eager one (fused kernels, the default), interleaved in rounds as run.py does, on run.py's
batch (32 tweets padded to 69 tokens: one shape, so one compile; the trainer's length-grouped
batches would compile per length or need dynamic shapes). From these: the steps after which
compiling has paid for itself, against the 100 steps of `quick` and the 300 of `standard`.
Writes `<machine>/compile.csv`.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/kernel_speed/compile_speed.py --threads 1
"""

from __future__ import annotations

import argparse
import copy
import os
import statistics
import time

import pandas as pd
import torch
from run import HERE, Path_, batch_of, candidates, ours  # noqa: I001 (this folder's script)

from autopeft.backbones import load_config, load_task_model, resolve_model_path
from autopeft.evaluators.cache import encode_task
from autopeft.evaluators.tasks import task_ref
from autopeft.methods.anatomy import dims_from_config, resolve


def timed(path: Path_, batch: dict, steps: int) -> float:
    start = time.perf_counter()
    for _ in range(steps):
        path.step(batch)
    return (time.perf_counter() - start) / steps


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--candidates", nargs="*", default=["lora-r8", "dense-hybrid"])
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    config = load_config("minilm")
    dims = dims_from_config(config, resolve(config))
    task = encode_task(task_ref("tweet_sentiment"), resolve_model_path("minilm"), config, 128)
    batch = batch_of(task)
    base = load_task_model("minilm", 3)
    rows = []
    for label, cand in candidates(dims).items():
        if not any(label.startswith(c) for c in args.candidates):
            continue
        for bf16 in (False, True):
            eager = Path_("fused", ours(copy.deepcopy(base), cand, "fused").train(), bf16)
            compiled_model = ours(copy.deepcopy(base), cand, "fused").train()
            compiled = Path_("fused+compile", torch.compile(compiled_model), bf16)
            compiled.params = [p for p in compiled_model.parameters() if p.requires_grad]
            eager_first = timed(eager, batch, 1)
            start = time.perf_counter()
            compiled.step(batch)  # compiles forward and backward
            compile_s = time.perf_counter() - start - eager_first
            compiled.step(batch)  # untimed: a second call's allocations
            ratios, eager_s, compiled_s = [], [], []
            for _ in range(args.rounds):
                e, c = timed(eager, batch, args.steps), timed(compiled, batch, args.steps)
                eager_s.append(e)
                compiled_s.append(c)
                ratios.append(c / e)
            saved = statistics.median(eager_s) - statistics.median(compiled_s)
            row = {"candidate": label, "precision": "bf16" if bf16 else "fp32", "compile_s": round(compile_s, 1),
                   "eager_s_per_step": round(statistics.median(eager_s), 4),
                   "compiled_s_per_step": round(statistics.median(compiled_s), 4),
                   "compiled_vs_eager": round(statistics.median(ratios), 3),
                   "break_even_steps": round(compile_s / saved) if saved > 0 else "never",
                   "load_avg_1m": round(os.getloadavg()[0], 2), "threads": args.threads}
            rows.append(row)
            print(row, flush=True)
            torch._dynamo.reset()
    out = HERE / args.machine
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "compile.csv", index=False)


if __name__ == "__main__":
    main()
