"""How far does a multi-fidelity rung agree with the final fidelity? (issue 21, item 2)

Random feasible candidates of the default space (what `asha` starts at its bottom rung), each
trained up the rungs of `asha` as one continued run (evaluators/checkpoint.py: a rung's score is
the final run's score at that step), scored on dev at every rung. `analyse.py` then gives each
rung's Spearman rho with the final score and the partial rho given the PEFT parameter count (what
a rung tells beyond the count, which mobo already models exactly).

Resumable: each finished rung is a row of `<machine>/<config>/rungs.csv`, a paused chain's
checkpoint is kept in `<machine>/<config>/checkpoints/`, and a run continues where it stopped:

    .venv/bin/python experiments/fidelity_agreement/run.py --machine cpu --threads 2
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import random
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
COLUMNS = ["candidate_index", "rung", "stop", "planned", "score", "loss", "peft_params", "wall_s", "commit",
           "candidate"]


def _commit() -> str:
    import subprocess

    out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True, text=True)
    return out.stdout.strip()


def candidates(task: str, model: str, budget: str, n: int, seed: int) -> list:
    """`n` distinct random feasible candidates of the default space, as a search's sampler draws them."""
    from autopeft.backbones import load_config
    from autopeft.space.budget import parse_budget
    from autopeft.space.loader import bind_space

    config = load_config(model)
    bound = bind_space("full", config, 2)
    limit = parse_budget(budget, bound.dims.backbone_params)
    rng, out, keys = random.Random(seed), [], set()
    while len(out) < n:
        _, cand = bound.sample(rng, limit, mode="mixed")
        if cand.key not in keys:
            keys.add(cand.key)
            out.append(cand)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="cpu")
    ap.add_argument("--task", default="tweet_sentiment")
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--budget", default="0.5%")
    ap.add_argument("--final", default="standard", help="the final rung's fidelity (asha's --fidelity)")
    ap.add_argument("--eta", type=int, default=3)
    ap.add_argument("--rungs", type=int, default=3)
    ap.add_argument("--candidates", type=int, default=24)
    ap.add_argument("--seed", type=int, default=0, help="draws the candidates; every candidate trains with seed 0")
    ap.add_argument("--threads", type=int, default=None)
    args = ap.parse_args()

    from autopeft.evaluators.fidelity import parse_fidelity
    from autopeft.evaluators.job import Job
    from autopeft.evaluators.tasks import task_ref
    from autopeft.evaluators.worker import Worker, WorkerSpec
    from autopeft.search.rungs import rung_steps

    final = parse_fidelity(args.final)
    assert final.steps is not None, "the final fidelity must be counted in steps"
    steps = rung_steps(final.steps, args.eta, args.rungs)
    out = HERE / args.machine / f"{args.task}-{args.budget.rstrip('%')}-{args.final}"
    (out / "checkpoints").mkdir(parents=True, exist_ok=True)
    table = out / "rungs.csv"
    done = set()
    if table.exists():
        with table.open() as f:
            done = {(int(r["candidate_index"]), int(r["rung"])) for r in csv.DictReader(f)}
    else:
        with table.open("w", newline="") as f:
            csv.writer(f).writerow(COLUMNS)
    cands = candidates(args.task, args.model, args.budget, args.candidates, args.seed)
    worker = Worker(WorkerSpec(task_ref(args.task), model=args.model, threads=args.threads))
    commit = _commit()
    for i, cand in enumerate(cands):
        for rung, stop in enumerate(steps):
            if (i, rung) in done:
                continue
            ckpt = out / "checkpoints" / f"{i}-{rung - 1}.safetensors"
            resume = ckpt.read_bytes() if rung and ckpt.exists() else None
            if rung and resume is None:  # the rung below finished but its checkpoint is gone: redo the chain
                print(f"candidate {i}: no checkpoint for rung {rung - 1}; retraining it from the start", flush=True)
            fid = dataclasses.replace(final, stop=stop if rung < len(steps) - 1 else None)
            start = time.perf_counter()
            result = worker.evaluate(Job.of(cand, fid, 0, keep_checkpoint=rung < len(steps) - 1, resume=resume))
            wall = time.perf_counter() - start
            if not result.ok:
                print(f"candidate {i} rung {rung} failed: {result.reason}", flush=True)
                break
            if result.checkpoint is not None:
                (out / "checkpoints" / f"{i}-{rung}.safetensors").write_bytes(result.checkpoint)
            with table.open("a", newline="") as f:
                csv.writer(f).writerow([i, rung, stop, final.steps, result.score, result.metrics.get("loss"),
                                        result.peft_params, round(wall, 1), commit, cand.to_json()])
            print(f"candidate {i} rung {rung} ({stop} steps): {result.score:.4f} "
                  f"({result.peft_params:,} params, {wall:.0f} s)", flush=True)
            if rung:
                (out / "checkpoints" / f"{i}-{rung - 1}.safetensors").unlink(missing_ok=True)
    print(f"done: {table}", file=sys.stderr)


if __name__ == "__main__":
    main()
