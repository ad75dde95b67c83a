"""Step time and memory of PEFT paths as ratios to the frozen-backbone limit, in one process,
interleaved (issue 22, item 4).

    OMP_NUM_THREADS=1 .venv/bin/python experiments/kernel_speed/run.py --threads 1 --rounds 4 --steps 2 --search

MiniLM, one batch of 32 tweets padded to 69 tokens, AdamW with clipping as the trainer does. The
frozen-backbone limit is the backbone's forward plus the backward through its activations (the
embeddings' output made to require grad) with only the head training; under bf16 the limit is
measured under bf16 autocast too. Each round runs every path for `--steps` timed steps (after one
untimed), round-robin, so a busy machine slows every path of a round alike; a path's ratio is the
median over rounds of its mean step time over the limit's in the same round. Memory is the bytes
autograd saves for backward (unique storages, through `saved_tensors_hooks`) plus the trainable
state (parameters, gradients, AdamW's two moments): deterministic, unlike a shared machine's RSS.

Paths per candidate: `peft` (HF peft, lora-r8 only), `plain`, `fused` (--kernels), each in fp32 and
`+bf16` (autocast). Candidates: lora-r8, the default search's largest trial (a dense 7-method
hybrid) and the largest candidate under 0.5% (experiments/precision's hybrid-113k). Then `--search`
adds the default search's 10 trials (experiments/default_search/trials.csv): plain, fused and
fused+bf16 step times, from which trials per hour of training steps are estimated (README).
Writes steps.csv (every round) and summary.csv.
"""

from __future__ import annotations

import argparse
import copy
import csv
import json
import os
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from autopeft.backbones import load_config, load_task_model, resolve_model_path
from autopeft.evaluators.batches import collate
from autopeft.evaluators.cache import encode_task
from autopeft.evaluators.tasks import task_ref
from autopeft.methods.anatomy import dims_from_config, resolve
from autopeft.methods.attach import apply
from autopeft.methods.candidate import Candidate
from autopeft.methods.kernels.fuse import fuse
from autopeft.space.baselines import baseline

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def batch_of(task, n: int = 32, length: int = 69) -> dict:
    """32 training tweets padded to 69 tokens (the issue's measuring batch)."""
    train = task.splits["train"]
    index = [i for i in range(len(train)) if train.lengths[i] <= length][:n]
    return collate(task, train, np.asarray(index), length)


def candidates(dims) -> dict[str, Candidate]:
    rows = list(csv.DictReader((ROOT / "default_search" / "trials.csv").open()))
    largest = max(rows, key=lambda r: int(r["peft_params"]))
    return {"lora-r8": baseline("lora-r8", dims),
            f"dense-hybrid (default search trial {largest['trial']})": Candidate.from_json(largest["candidate"]),
            "hybrid-113k (largest under 0.5%)": Candidate.from_json((ROOT / "precision" / "candidates" /
                                                                     "hybrid-113k.json").read_text())}


class Path_:
    """One way to train: a model copy, its optimizer, and whether it runs under bf16 autocast."""

    def __init__(self, name: str, model: torch.nn.Module, bf16: bool):
        self.name, self.model, self.bf16 = name, model, bf16
        self.params = [p for p in model.parameters() if p.requires_grad]
        self.opt = torch.optim.AdamW(self.params, lr=1e-4)

    def step(self, batch: dict) -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
            loss = self.model(**batch).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.params, 1.0)
        self.opt.step()
        self.opt.zero_grad(set_to_none=True)

    def memory_mb(self, batch: dict) -> float:
        """Saved-for-backward bytes (unique storages) + parameters, gradients and AdamW moments."""
        seen: dict[int, int] = {}

        def pack(t: torch.Tensor) -> torch.Tensor:
            s = t.untyped_storage()
            seen[s.data_ptr()] = s.nbytes()
            return t

        with torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=self.bf16):
                loss = self.model(**batch).loss
        loss.backward()
        self.opt.zero_grad(set_to_none=True)
        state = sum(p.numel() * p.element_size() * 4 for p in self.params)
        return (sum(seen.values()) + state) / 2**20


def frozen(model: torch.nn.Module) -> torch.nn.Module:
    """The limit: everything frozen but the head; the backward still runs through every activation."""
    for name, p in model.named_parameters():
        p.requires_grad_(not name.startswith(model.base_model_prefix))
    model.base_model.embeddings.register_forward_hook(lambda m, i, out: out.requires_grad_(True))
    return model


def hf_peft(model: torch.nn.Module) -> torch.nn.Module:
    """HF peft's LoRA r=8 on query and value (alpha = r, as our lora-r8), head trained."""
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=8, lora_alpha=8, lora_dropout=0.0, target_modules=["query", "value"],
                                            task_type="SEQ_CLS"))


def ours(model: torch.nn.Module, cand: Candidate, kernels: str) -> torch.nn.Module:
    torch.manual_seed(0)
    fuse(apply(model, cand), kernels)
    return model


def build_paths(base: torch.nn.Module, cand: Candidate, with_peft: bool, kinds: tuple[str, ...]) -> list[Path_]:
    makers: dict[str, Callable[[], torch.nn.Module]] = {
        "limit": lambda: frozen(copy.deepcopy(base)),
        "peft": lambda: hf_peft(copy.deepcopy(base)),
        "plain": lambda: ours(copy.deepcopy(base), cand, "plain"),
        "fused": lambda: ours(copy.deepcopy(base), cand, "fused"),
    }
    out = []
    for kind in kinds:
        if kind == "peft" and not with_peft:
            continue
        model = makers[kind]().train()
        out.append(Path_(kind, model, False))
        out.append(Path_(kind + "+bf16", model, True))
    return out


def measure(label: str, paths: list[Path_], batch: dict, rounds: int, steps: int, writer) -> list[dict]:
    """Interleaved rounds; per path: median ratio to the limit (fp32 limit, and its own precision's)."""
    times: dict[str, list[float]] = {p.name: [] for p in paths}
    for p in paths:
        p.step(batch)  # untimed: first-call allocations
    for r in range(rounds):
        for p in paths:
            start = time.perf_counter()
            for _ in range(steps):
                p.step(batch)
            t = (time.perf_counter() - start) / steps
            times[p.name].append(t)
            writer.writerow({"candidate": label, "round": r, "path": p.name, "s_per_step": round(t, 4),
                             "load_avg_1m": round(os.getloadavg()[0], 2)})
    rows = []
    for p in paths:
        limit = "limit+bf16" if p.bf16 else "limit"
        ratio = statistics.median(a / b for a, b in zip(times[p.name], times["limit"], strict=True))
        own = statistics.median(a / b for a, b in zip(times[p.name], times[limit], strict=True))
        rows.append({"candidate": label, "path": p.name,
                     "median_s_per_step": round(statistics.median(times[p.name]), 4),
                     "time_vs_fp32_limit": round(ratio, 3), "time_vs_limit_same_precision": round(own, 3),
                     "memory_mb": round(p.memory_mb(batch), 1)})
    mem_limit = {r["path"]: r["memory_mb"] for r in rows}
    for row in rows:
        row["memory_vs_limit_same_precision"] = round(
            row["memory_mb"] / mem_limit["limit+bf16" if row["path"].endswith("+bf16") else "limit"], 3)
        print(row, flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--search", action="store_true", help="also the default search's 10 trials (plain/fused/bf16)")
    ap.add_argument("--only-search", action="store_true")
    ap.add_argument("--out", type=Path, default=HERE / "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    config = load_config("minilm")
    dims = dims_from_config(config, resolve(config))
    task = encode_task(task_ref("tweet_sentiment"), resolve_model_path("minilm"), config, 128)
    batch = batch_of(task)
    base = load_task_model("minilm", 3)
    meta = {"threads": args.threads, "rounds": args.rounds, "steps": args.steps, "torch": torch.__version__,
            "batch": list(batch["input_ids"].shape), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
            "cpu_bf16_flags": sorted({"avx512_bf16", "amx_bf16"} & set(open("/proc/cpuinfo").read().split()))}
    (args.out / "meta.json").write_text(json.dumps(meta, indent=2))
    summary: list[dict] = []
    with (args.out / "steps.csv").open("a", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["candidate", "round", "path", "s_per_step", "load_avg_1m"])
        if f.tell() == 0:
            writer.writeheader()
        if not args.only_search:
            for label, cand in candidates(dims).items():
                paths = build_paths(base, cand, label == "lora-r8", ("limit", "peft", "plain", "fused"))
                summary += measure(label, paths, batch, args.rounds, args.steps, writer)
                f.flush()
        if args.search or args.only_search:
            rows = list(csv.DictReader((ROOT / "default_search" / "trials.csv").open()))
            for row in rows:
                cand = Candidate.from_json(row["candidate"])
                paths = [p for p in build_paths(base, cand, False, ("limit", "plain", "fused"))
                         if p.name in ("limit", "limit+bf16", "plain", "fused", "fused+bf16")]
                summary += measure(f"search trial {row['trial']}", paths, batch, max(1, args.rounds // 4),
                                   args.steps, writer)
                f.flush()
    name = "summary_search.csv" if args.only_search else "summary.csv"
    with (args.out / name).open("w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(summary[0]))
        w.writeheader()
        w.writerows(summary)


if __name__ == "__main__":
    main()
