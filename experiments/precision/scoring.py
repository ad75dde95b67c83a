"""Can a trial be scored under bf16 autocast too, and how much faster is its scoring?

`--precision bf16` trains under autocast, but until this measurement scored dev and test in float32,
and scoring is a large share of a search (2,000 dev tweets a trial, 5,000 test tweets for each
front member). For each candidate this trains once at `quick` (bf16, seed 0, as a default search's
trial), then scores the same trained model on dev and on test in float32 and under bf16 autocast:
the scores, the share of predictions that agree, and the scoring time (rounds alternate the two,
so a shared machine's load falls on both). Writes `<machine>/scoring.csv`.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/precision/scoring.py --threads 1
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd

HERE = Path(__file__).resolve().parent
CANDIDATES = ("lora-r8", "hybrid-33k", "hybrid-113k")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=2)
    args = ap.parse_args()

    import torch

    from autopeft.evaluators import metrics
    from autopeft.evaluators.fidelity import HEAD_LR, PRESETS
    from autopeft.evaluators.precision import precision_autocast
    from autopeft.evaluators.result import EvalResult
    from autopeft.evaluators.tasks import task_ref
    from autopeft.evaluators.trainer import build_optimizer, predict, reset_head, seed_everything, subset, train_loop
    from autopeft.evaluators.worker import Worker, WorkerSpec
    from autopeft.methods.anatomy import dims_from_config, resolve
    from autopeft.methods.attach import apply
    from autopeft.methods.candidate import Candidate
    from autopeft.methods.kernels.fuse import fuse
    from autopeft.space.baselines import baseline

    worker = Worker(WorkerSpec(task_ref("tweet_sentiment"), threads=args.threads, precision="bf16"))
    model, task, fid = worker.model, worker.task, PRESETS["quick"]
    dims = dims_from_config(worker.config, resolve(worker.config))
    rows = []
    for name in CANDIDATES:
        path = HERE / "candidates" / f"{name}.json"
        cand = Candidate.from_json(path.read_text()) if path.exists() else baseline(name, dims)
        seed_everything(0)
        reset_head(model)
        attached = apply(model, cand)
        fuse(attached, worker.kernels)
        try:
            train_loop(model, task, build_optimizer(attached, HEAD_LR), fid, 0, "cpu", None, True,
                       EvalResult(status="ok", metric="accuracy"), None, precision="bf16")
            for split in ("dev", "test"):
                data = task.splits[split]
                data = subset(data, fid.eval, False) if split == "dev" else data  # the 2,000 a trial scores
                preds, times = {}, {"fp32": [], "bf16": []}
                for _ in range(args.rounds):
                    for prec in ("fp32", "bf16"):
                        start = time.perf_counter()
                        with precision_autocast(prec, "cpu"):
                            preds[prec], loss = predict(model, task, data, "cpu")
                        times[prec].append(time.perf_counter() - start)
                score = {p: metrics.compute(task.spec.metric, preds[p], data.labels)["score"] for p in preds}
                row = {"candidate": name, "split": split, "examples": len(data), "fp32_score": round(score["fp32"], 4),
                       "bf16_score": round(score["bf16"], 4), "agree": round(float(np.mean(preds["fp32"] ==
                                                                                         preds["bf16"])), 4),
                       "fp32_s": round(statistics.median(times["fp32"]), 1),
                       "bf16_s": round(statistics.median(times["bf16"]), 1),
                       "bf16_vs_fp32_time": round(statistics.median(b / f for b, f in zip(times["bf16"], times["fp32"],
                                                                                            strict=True)), 3),
                       "load_avg_1m": round(os.getloadavg()[0], 2), "threads": torch.get_num_threads()}
                rows.append(row)
                print(row, flush=True)
        finally:
            attached.detach()
    out = HERE / args.machine
    out.mkdir(parents=True, exist_ok=True)
    pd.DataFrame(rows).to_csv(out / "scoring.csv", index=False)


if __name__ == "__main__":
    main()
