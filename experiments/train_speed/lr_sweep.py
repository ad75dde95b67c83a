"""A short learning-rate sweep per PEFT method: MiniLM / tweet_sentiment, one design per method,
three rates around its default, `quick` fidelity (100 steps, 2,000 dev tweets), one seed.

    .venv/bin/python experiments/train_speed/lr_sweep.py --steps 100 --seeds 0

Writes lr_sweep.csv (appends). The head trains at the trainer's default rate (1e-3) throughout.
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

from autopeft.evaluators.fidelity import parse_fidelity
from autopeft.evaluators.job import Job
from autopeft.evaluators.runners import InProcessRunner
from autopeft.evaluators.tasks import task_ref
from autopeft.evaluators.worker import WorkerSpec
from autopeft.methods.candidate import Candidate
from autopeft.space.baselines import baseline

HERE = Path(__file__).resolve().parent
N_LAYERS = 6
# method -> (candidate design, rates tried)
SWEEP = {
    "lora": ("lora-r8", (3e-4, 1e-3, 3e-3, 1e-2, 3e-2)),
    "serial_adapter": ("pfeiffer", (3e-4, 1e-3, 3e-3, 1e-2)),
    "parallel_adapter": ({"parallel_adapter": {"ffn": 16}}, (3e-4, 1e-3, 3e-3, 1e-2)),
    "bitfit": ("bitfit", (1e-3, 3e-3, 1e-2, 3e-2)),
    "ia3": ("ia3", (1e-3, 3e-3, 1e-2, 3e-2, 1e-1)),
    "prefix": ({"prefix": {"length": 10}}, (3e-3, 1e-2, 3e-2, 1e-1)),
    "prompt": ("prompt", (1e-2, 3e-2, 1e-1, 3e-1)),
}


def candidate(design: object, method: str, lr: float, dims: object) -> Candidate:
    """The design with `lr` set for its method."""
    if design == "prompt":  # shallow prompt tuning: 10 tokens inserted at the first layer only
        data = {"layers": [{"prompt": {"insert": 1}}] + [{}] * (N_LAYERS - 1), "globals": {}}
    elif isinstance(design, str):
        data = baseline(design, dims).to_dict()
    else:
        data = {"layers": [dict(design) for _ in range(N_LAYERS)], "globals": {}}
    data["globals"].setdefault(method, {})["lr"] = lr
    return Candidate.from_json(data)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--eval", type=int, default=2000)
    parser.add_argument("--seeds", default="0")
    parser.add_argument("--only", nargs="*", help="methods to sweep (default all)")
    parser.add_argument("--rates", nargs="*", default=[], metavar="METHOD=R1/R2",
                        help="rates to try for a method instead of the grid above, e.g. lora=3e-3/1e-2")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--model", default="minilm", help="minilm or a checkpoint directory")
    parser.add_argument("--head-lr", type=float, default=None, help="the head's rate (default: trainer's)")
    parser.add_argument("--out", type=Path, default=HERE / "lr_sweep.csv")
    args = parser.parse_args()
    from autopeft.methods.anatomy import dims_from_config, resolve

    extra = {} if args.head_lr is None else {"head_lr": args.head_lr}
    runner = InProcessRunner(WorkerSpec(task_ref("tweet_sentiment"), model=args.model, threads=args.threads, **extra))
    dims = dims_from_config(runner.worker.config, resolve(runner.worker.config))
    fid = parse_fidelity(f"steps={args.steps},eval={args.eval}")
    new = not args.out.exists()
    with args.out.open("a", newline="") as f:
        writer = csv.writer(f)
        if new:
            writer.writerow(["method", "design", "lr", "seed", "steps", "status", "accuracy", "train_loss",
                             "peft_params", "wall_s", "reason", "device", "head_lr"])
        chosen = {m: tuple(float(r) for r in rs.split("/")) for m, rs in (a.split("=", 1) for a in args.rates)}
        for method, (design, rates) in SWEEP.items():
            if args.only and method not in args.only:
                continue
            rates = chosen.get(method, rates)
            for lr in rates:
                for seed in (int(s) for s in args.seeds.split(",")):
                    r = runner.run([Job.of(candidate(design, method, lr, dims), fid, seed)])[0]
                    row = [method, design if isinstance(design, str) else "custom", lr, seed, r.steps, r.status,
                           None if r.score is None else round(r.score, 4),
                           None if r.train_loss is None else round(r.train_loss, 4), r.peft_params, r.wall_s,
                           r.reason or "", runner.worker.device, runner.worker.spec.head_lr]
                    print(row, flush=True)
                    writer.writerow(row)
                    f.flush()


if __name__ == "__main__":
    main()
