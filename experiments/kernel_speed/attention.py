"""The backbone's attention kernel under bf16 on the CPU: SDPA (transformers' default) against eager.

    OMP_NUM_THREADS=1 .venv/bin/python experiments/kernel_speed/attention.py --threads 1 --rounds 4

Two measurements, each interleaved round by round so a shared machine's load falls on all alike:
- `ops`: one attention call at MiniLM's measuring batch (32 sequences of 69 tokens, 12 heads of 32,
  padding masked), forward and backward timed apart, in float32 and bfloat16 (bf16 inputs under
  autocast, as a bf16 trial's attention gets them from its projections): SDPA as PyTorch picks
  its CPU backend (flash), SDPA forced to its math backend, and BERT's own eager attention
  (`transformers.models.bert.modeling_bert.eager_attention_forward`, additive mask).
- `steps`: training steps (forward, backward, clipping, AdamW) of the three candidates of run.py, our
  fused kernels under bf16 autocast, on an SDPA and on an eager copy of the backbone, beside the
  frozen-backbone limit in float32 (SDPA) and under bf16 (both kernels). Ratios are medians over
  rounds of a path's step time over a limit's in the same round.
Writes `<out>/attention_ops.csv` and `<out>/attention_steps.csv`.
"""

from __future__ import annotations

import argparse
import copy
import csv
import os
import statistics
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

HERE = Path(__file__).resolve().parent
SHAPE = (32, 12, 69, 32)  # batch, heads, tokens, head size: MiniLM on the measuring batch


def attention_ops() -> dict:
    """name -> f(q, k, v, bool mask, additive mask) for one attention call, as each kernel runs it."""
    from transformers.models.bert.modeling_bert import eager_attention_forward

    class Module(torch.nn.Module):  # what eager_attention_forward reads from its module: training mode
        pass

    module = Module().train()

    def sdpa(q, k, v, keep, additive):
        return F.scaled_dot_product_attention(q, k, v, attn_mask=keep)

    def sdpa_math(q, k, v, keep, additive):
        with sdpa_kernel([SDPBackend.MATH]):
            return F.scaled_dot_product_attention(q, k, v, attn_mask=keep)

    def eager(q, k, v, keep, additive):
        out = eager_attention_forward(module, q, k, v, additive, scaling=q.shape[-1] ** -0.5)[0]
        return out.transpose(1, 2)  # (batch, heads, tokens, size), as SDPA gives

    return {"sdpa": sdpa, "sdpa-math": sdpa_math, "eager": eager}


def measure_ops(rounds: int, writer) -> list[dict]:
    batch, heads, tokens, size = SHAPE
    keep = torch.ones(batch, 1, tokens, tokens, dtype=torch.bool)
    for b in range(batch):  # padded like the measuring batch: 40 to 68 real tokens
        keep[b, ..., 40 + b % 29:] = False
    additive = torch.zeros(keep.shape).masked_fill(~keep, torch.finfo(torch.float32).min)
    ops = attention_ops()
    times: dict[tuple[str, str], dict[str, list[float]]] = {}
    for r in range(rounds + 1):  # round 0 untimed: first-call allocations
        for dtype in (torch.float32, torch.bfloat16):
            for name, op in ops.items():
                gen = torch.Generator().manual_seed(r)
                q, k, v = (torch.randn(SHAPE, generator=gen, dtype=dtype).requires_grad_() for _ in range(3))
                grad = torch.randn(SHAPE, generator=gen, dtype=dtype)
                start = time.perf_counter()
                with torch.autocast("cpu", dtype=torch.bfloat16, enabled=dtype == torch.bfloat16):  # as in a trial
                    out = op(q, k, v, keep, additive)
                mid = time.perf_counter()
                out.backward(grad)
                end = time.perf_counter()
                if r:
                    key = (str(dtype).removeprefix("torch."), name)
                    times.setdefault(key, {"fwd": [], "bwd": []})
                    times[key]["fwd"].append(mid - start)
                    times[key]["bwd"].append(end - mid)
                    writer.writerow({"round": r, "dtype": key[0], "kernel": name,
                                     "fwd_ms": round(1e3 * (mid - start), 2), "bwd_ms": round(1e3 * (end - mid), 2),
                                     "load_avg_1m": round(os.getloadavg()[0], 2)})
    return [{"dtype": d, "kernel": k, "fwd_ms": round(1e3 * statistics.median(t["fwd"]), 1),
             "bwd_ms": round(1e3 * statistics.median(t["bwd"]), 1)} for (d, k), t in times.items()]


def measure_steps(rounds: int, steps: int) -> list[dict]:
    import run as table  # experiments/kernel_speed/run.py: its batch, candidates, limit and step

    from autopeft.backbones import load_config, load_task_model, resolve_model_path
    from autopeft.evaluators.cache import encode_task
    from autopeft.evaluators.precision import set_attention
    from autopeft.evaluators.tasks import task_ref
    from autopeft.methods.anatomy import dims_from_config, resolve

    config = load_config("minilm")
    task = encode_task(task_ref("tweet_sentiment"), resolve_model_path("minilm"), config, 128)
    batch = table.batch_of(task)
    base = load_task_model("minilm", 3)
    eager_base = copy.deepcopy(base)
    set_attention(eager_base, "eager")
    out = []
    for label, cand in table.candidates(dims_from_config(config, resolve(config))).items():
        paths = {"limit (fp32, sdpa)": table.Path_("limit", table.frozen(copy.deepcopy(base)), False),
                 "limit+bf16 (sdpa)": table.Path_("limit", table.frozen(copy.deepcopy(base)), True),
                 "limit+bf16 (eager)": table.Path_("limit", table.frozen(copy.deepcopy(eager_base)), True),
                 "fused+bf16 (sdpa)": table.Path_("fused", table.ours(copy.deepcopy(base), cand, "fused"), True),
                 "fused+bf16 (eager)": table.Path_("fused", table.ours(copy.deepcopy(eager_base), cand, "fused"),
                                                   True)}
        for p in paths.values():
            p.model.train()
            p.step(batch)  # untimed
        times: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(rounds):
            for name, p in paths.items():
                start = time.perf_counter()
                for _ in range(steps):
                    p.step(batch)
                times[name].append((time.perf_counter() - start) / steps)
        for name in paths:
            own = "limit+bf16 (eager)" if "eager" in name else "limit+bf16 (sdpa)" if "bf16" in name else name
            row = {"candidate": label, "path": name, "median_s_per_step": round(statistics.median(times[name]), 4),
                   "time_vs_fp32_limit": _ratio(times[name], times["limit (fp32, sdpa)"]),
                   "time_vs_limit_same_kernel": _ratio(times[name], times[own]),
                   "time_vs_fused_bf16_sdpa": _ratio(times[name], times["fused+bf16 (sdpa)"])}
            print(row, flush=True)
            out.append(row)
    return out


def _ratio(a: list[float], b: list[float]) -> float:
    return round(statistics.median(x / y for x, y in zip(a, b, strict=True)), 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--out", type=Path, default=HERE / "cpu")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    args.out.mkdir(parents=True, exist_ok=True)
    with (args.out / "attention_op_rounds.csv").open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=["round", "dtype", "kernel", "fwd_ms", "bwd_ms", "load_avg_1m"])
        writer.writeheader()
        ops = measure_ops(args.rounds * 2, writer)
    _write(args.out / "attention_ops.csv", ops)
    _write(args.out / "attention_steps.csv", measure_steps(args.rounds, args.steps))


def _write(path: Path, rows: list[dict]) -> None:
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
    print(path.read_text(), flush=True)


if __name__ == "__main__":
    main()
