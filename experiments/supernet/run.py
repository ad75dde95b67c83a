"""Does the supernet's proxy rank candidates like standalone training does, and how much cheaper is it?

On MiniLM / tweet_sentiment at a 0.5% budget: train one supernet over the `full` space, score N
candidates spread over the parameter range with inherited weights (proxy), then train each of
them standalone, and compare: Kendall tau and Spearman rho between proxy and standalone scores,
and the time per candidate of each. Writes results.csv, summary.csv and proxy_vs_standalone.png
here.

    .venv/bin/python experiments/supernet/run.py                # the committed results
    .venv/bin/python experiments/supernet/run.py --n 6 --supernet-steps 20 --fidelity smoke  # a smoke run
"""

from __future__ import annotations

import argparse
import math
import random
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def spread_candidates(bound, budget: int, n: int, seed: int) -> list:
    """`n` distinct feasible candidates, one per log-spaced bin of the parameter range."""
    rng = random.Random(seed)
    lo = max(1, bound.min_params())
    edges = [math.exp(math.log(lo) + (math.log(budget) - math.log(lo)) * i / n) for i in range(n + 1)]
    bins: list = [None] * n
    for _ in range(20000):
        _, cand = bound.sample(rng, budget)
        p = bound.params(cand)
        i = min(n - 1, max(0, next((k for k in range(n) if p <= edges[k + 1]), n - 1)))
        if bins[i] is None:
            bins[i] = cand
        if all(bins):
            break
    picked = [c for c in bins if c is not None]
    while len(picked) < n:  # sparse low end: top up with any new feasible candidates
        _, cand = bound.sample(rng, budget)
        if cand not in picked:
            picked.append(cand)
    return picked


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--task", default="tweet_sentiment")
    ap.add_argument("--space", default="full")
    ap.add_argument("--budget", default="0.5%")
    ap.add_argument("--n", type=int, default=24)
    ap.add_argument("--supernet-steps", type=int, default=300)
    ap.add_argument("--proxy-eval", type=int, default=500)
    ap.add_argument("--fidelity", default="quick")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE))
    args = ap.parse_args()

    from scipy.stats import kendalltau, spearmanr

    from autopeft.evaluators.fidelity import parse_fidelity
    from autopeft.evaluators.supernet import SupernetPlan, SupernetTrainer
    from autopeft.evaluators.tasks import task_ref
    from autopeft.evaluators.worker import Job, Worker, WorkerSpec
    from autopeft.space.budget import parse_budget
    from autopeft.space.loader import bind_space

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    worker = Worker(WorkerSpec(task_ref(args.task), model=args.model, threads=args.threads))
    bound = bind_space(args.space, worker.config, worker.task.spec.num_labels)
    budget = parse_budget(args.budget, bound.dims.backbone_params)
    candidates = spread_candidates(bound, budget, args.n, args.seed)
    print(f"{len(candidates)} candidates from {min(map(bound.params, candidates)):,} to "
          f"{max(map(bound.params, candidates)):,} PEFT parameters (budget {budget:,})", flush=True)

    plan = SupernetPlan(steps=args.supernet_steps, eval=args.proxy_eval)
    trainer = SupernetTrainer(worker.model, worker.task, bound, budget, plan, seed=args.seed, device=worker.device)
    t0 = time.perf_counter()
    trainer.train(on_step=lambda s, t: print(f"supernet step {s}/{t}", flush=True) if s % 50 == 0 else None)
    supernet_s = time.perf_counter() - t0
    rows = []
    for cand in candidates:
        r = trainer.proxy(cand)
        rows.append({"key": cand.key, "peft_params": bound.params(cand), "proxy_score": r.score,
                     "proxy_wall_s": r.wall_s, "proxy_status": r.status, "candidate": cand.to_json()})
        print(f"proxy {cand.key}: {r.score} ({r.wall_s:.1f}s)", flush=True)
    trainer.close()

    fidelity = parse_fidelity(args.fidelity)
    for row, cand in zip(rows, candidates, strict=True):
        r = worker.evaluate(Job.of(cand, fidelity, seed=args.seed))
        row.update(standalone_score=r.score, standalone_wall_s=r.wall_s, standalone_status=r.status,
                   standalone_reason=r.reason)
        print(f"standalone {cand.key}: {r.score} ({r.wall_s:.1f}s)", flush=True)

    df = pd.DataFrame(rows)
    df["peft_pct"] = 100 * df["peft_params"] / bound.dims.backbone_params
    df.to_csv(out / "results.csv", index=False)
    ok = df[(df.proxy_status == "ok") & (df.standalone_status == "ok")]
    tau, tau_p = kendalltau(ok.proxy_score, ok.standalone_score)
    rho, rho_p = spearmanr(ok.proxy_score, ok.standalone_score)
    summary = pd.DataFrame([{
        "model": args.model, "task": args.task, "space": args.space, "budget": args.budget,
        "candidates": len(ok), "supernet_steps": args.supernet_steps, "supernet_train_s": round(supernet_s, 1),
        "proxy_eval_examples": args.proxy_eval, "standalone_fidelity": fidelity.label(),
        "kendall_tau": round(tau, 3), "kendall_p": round(tau_p, 4), "spearman_rho": round(rho, 3),
        "spearman_p": round(rho_p, 4),
        "proxy_s_per_candidate": round(ok.proxy_wall_s.mean(), 2),
        "standalone_s_per_candidate": round(ok.standalone_wall_s.mean(), 1),
        "proxy_cost_ratio": round(ok.proxy_wall_s.mean() / ok.standalone_wall_s.mean(), 4),
        "threads": args.threads,
    }])
    summary.to_csv(out / "summary.csv", index=False)
    print(summary.T.to_string(), flush=True)
    plot(ok, tau, rho, out / "proxy_vs_standalone.png")


def plot(df: pd.DataFrame, tau: float, rho: float, path: Path) -> None:
    """Proxy score against standalone score, coloured by parameter share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=130)
    sc = ax.scatter(df.proxy_score, df.standalone_score, c=df.peft_pct, cmap="viridis", s=42, edgecolor="k", lw=0.4)
    fig.colorbar(sc, ax=ax, label="PEFT parameters (% of backbone)")
    ax.set_xlabel("supernet proxy score (dev accuracy, inherited weights)")
    ax.set_ylabel("standalone score (dev accuracy)")
    ax.set_title(f"Proxy vs standalone: Kendall τ = {tau:.2f}, Spearman ρ = {rho:.2f}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
