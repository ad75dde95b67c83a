"""Does the supernet's proxy rank candidates like standalone training does, and how much cheaper is it?

On MiniLM / tweet_sentiment at a 0.5% budget: train one supernet over the `full` space, score N
candidates spread over the parameter range with inherited weights (proxy), then train each of
them standalone, and compare: Kendall tau and Spearman rho between proxy and standalone scores,
and the time per candidate of each. Each proxy is scored on two dev-subset sizes, since the
proxy's cost is its evaluation. Writes results.csv, summary.csv and proxy<N>_vs_standalone.png
here.

    .venv/bin/python experiments/supernet/run.py                # the committed results
    .venv/bin/python experiments/supernet/run.py --n 4 --supernet-steps 10 --fidelity smoke --out /tmp/x  # smoke
"""

from __future__ import annotations

import argparse
import dataclasses
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
    ap.add_argument("--proxy-evals", default="200,1000", help="dev examples per proxy score, comma-separated")
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

    evals = [int(v) for v in args.proxy_evals.split(",")]
    plan = SupernetPlan(steps=args.supernet_steps, eval=evals[0])
    trainer = SupernetTrainer(worker.model, worker.task, bound, budget, plan, seed=args.seed, device=worker.device)
    t0 = time.perf_counter()
    trainer.train(on_step=lambda s, t: print(f"supernet step {s}/{t}", flush=True) if s % 10 == 0 else None)
    supernet_s = time.perf_counter() - t0
    rows = [{"key": c.key, "peft_params": bound.params(c), "candidate": c.to_json()} for c in candidates]
    for n_eval in evals:
        trainer.plan = dataclasses.replace(plan, eval=n_eval)
        for row, cand in zip(rows, candidates, strict=True):
            r = trainer.proxy(cand)
            row.update({f"proxy{n_eval}_score": r.score, f"proxy{n_eval}_wall_s": r.wall_s,
                        f"proxy{n_eval}_status": r.status})
            print(f"proxy@{n_eval} {cand.key}: {r.score} ({r.wall_s:.1f}s)", flush=True)
    trainer.close()

    fidelity = parse_fidelity(args.fidelity)
    for row, cand in zip(rows, candidates, strict=True):
        r = worker.evaluate(Job.of(cand, fidelity, seed=args.seed))
        row.update(standalone_score=r.score, standalone_wall_s=r.wall_s, standalone_status=r.status,
                   standalone_reason=r.reason)
        print(f"standalone {cand.key}: {r.score} ({r.wall_s:.1f}s)", flush=True)
        pd.DataFrame(rows).to_csv(out / "results.partial.csv", index=False)  # a cut run keeps what it measured

    df = pd.DataFrame(rows)
    df["peft_pct"] = 100 * df["peft_params"] / bound.dims.backbone_params
    df.to_csv(out / "results.csv", index=False)
    summaries = []
    for n_eval in evals:
        ok = df[(df[f"proxy{n_eval}_status"] == "ok") & (df.standalone_status == "ok")]
        tau, tau_p = kendalltau(ok[f"proxy{n_eval}_score"], ok.standalone_score)
        rho, rho_p = spearmanr(ok[f"proxy{n_eval}_score"], ok.standalone_score)
        summaries.append({
            "model": args.model, "task": args.task, "space": args.space, "budget": args.budget,
            "candidates": len(ok), "supernet_steps": args.supernet_steps, "supernet_train_s": round(supernet_s, 1),
            "proxy_eval_examples": n_eval, "standalone_fidelity": fidelity.label(),
            "kendall_tau": round(tau, 3), "kendall_p": round(tau_p, 4), "spearman_rho": round(rho, 3),
            "spearman_p": round(rho_p, 4),
            "proxy_s_per_candidate": round(ok[f"proxy{n_eval}_wall_s"].mean(), 2),
            "standalone_s_per_candidate": round(ok.standalone_wall_s.mean(), 1),
            "proxy_cost_ratio": round(ok[f"proxy{n_eval}_wall_s"].mean() / ok.standalone_wall_s.mean(), 4),
            "threads": args.threads,
        })
        plot(ok.rename(columns={f"proxy{n_eval}_score": "proxy_score"}), tau, rho,
             out / f"proxy{n_eval}_vs_standalone.png", n_eval)
    summary = pd.DataFrame(summaries)
    summary.to_csv(out / "summary.csv", index=False)
    print(summary.T.to_string(), flush=True)


def plot(df: pd.DataFrame, tau: float, rho: float, path: Path, n_eval: int) -> None:
    """Proxy score against standalone score, coloured by parameter share."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=130)
    sc = ax.scatter(df.proxy_score, df.standalone_score, c=df.peft_pct, cmap="viridis", s=42, edgecolor="k", lw=0.4)
    fig.colorbar(sc, ax=ax, label="PEFT parameters (% of backbone)")
    ax.set_xlabel(f"supernet proxy score (accuracy on {n_eval} dev examples, inherited weights)")
    ax.set_ylabel("standalone score (dev accuracy)")
    ax.set_title(f"Proxy vs standalone: Kendall τ = {tau:.2f}, Spearman ρ = {rho:.2f}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path)


if __name__ == "__main__":
    main()
