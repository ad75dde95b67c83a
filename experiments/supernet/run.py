"""Does the supernet's proxy rank candidates like standalone training does, and how much cheaper is it?

On MiniLM / tweet_sentiment at a 0.5% budget: pick N candidates of the `full` space spread over
the parameter range, train each standalone (at one or more fidelities), then train supernets
(sampling rule and step count varied) and score every candidate with inherited weights: on a few
dev-set sizes, with and without a few steps of its own, reading both the dev accuracy and the dev
loss. Compares each proxy with each standalone score (Kendall tau, Spearman rho) and times both.

Writes here: standalone.csv, proxies.csv (one row per candidate and proxy setting), summary.csv
(one row per proxy setting, proxy signal and standalone fidelity), rho_by_setting.png and
best_proxy_vs_standalone.png.

    .venv/bin/python experiments/supernet/run.py        # see README.md for the committed runs
    .venv/bin/python experiments/supernet/run.py --n 4 --supernets sandwich:10 --standalone smoke --out /tmp/x  # smoke
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import math
import random
import time
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
SIGNALS = {"accuracy": lambda r: r.score, "neg_loss": lambda r: -r.metrics["loss"]}  # higher is better


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


def parse_args() -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="minilm")
    ap.add_argument("--task", default="tweet_sentiment")
    ap.add_argument("--space", default="full")
    ap.add_argument("--budget", default="0.5%")
    ap.add_argument("--n", type=int, default=32)
    ap.add_argument("--standalone", default="quick", help="standalone fidelities, ';'-separated")
    ap.add_argument("--supernets", default="sandwich:100,sandwich:300,sandwich:1000,random:300",
                    help="SAMPLING:STEPS supernets to train, comma-separated")
    ap.add_argument("--proxy-evals", default="200,1000", help="dev examples per proxy score, comma-separated")
    ap.add_argument("--finetune", default="0,20", help="steps of the candidate's own before scoring, comma-separated")
    ap.add_argument("--proxy-dtype", default="bfloat16", help="bfloat16 (autocast where fast) or float32")
    ap.add_argument("--train-dtypes", default="bfloat16",
                    help="supernet training precision(s), comma-separated: bfloat16 (autocast where fast), float32")
    ap.add_argument("--standalone-from", default=None,
                    help="reuse a standalone.csv of the same candidates (same --n, --seed, model, space, budget)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=str(HERE))
    ap.add_argument("--summarise-only", action="store_true",
                    help="recompute summary.csv and the plots from --out's standalone.csv and proxies.csv")
    return ap.parse_args()


def main() -> None:
    args = parse_args()
    if args.summarise_only:
        out = Path(args.out)
        write_summary(pd.read_csv(out / "standalone.csv"), pd.read_csv(out / "proxies.csv"), args, out)
        return
    from autopeft.evaluators.fidelity import parse_fidelity
    from autopeft.evaluators.job import Job
    from autopeft.evaluators.supernet import SupernetPlan, SupernetTrainer
    from autopeft.evaluators.tasks import task_ref
    from autopeft.evaluators.worker import Worker, WorkerSpec
    from autopeft.space.budget import parse_budget
    from autopeft.space.loader import bind_space

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    worker = Worker(WorkerSpec(task_ref(args.task), model=args.model, threads=args.threads))
    bound = bind_space(args.space, worker.config, worker.task.spec.num_labels)
    budget = parse_budget(args.budget, bound.dims.backbone_params)
    candidates = spread_candidates(bound, budget, args.n, args.seed)
    print(f"{len(candidates)} candidates from {min(map(bound.params, candidates)):,} to "
          f"{max(map(bound.params, candidates)):,} PEFT parameters (budget {budget:,}) on {worker.device}", flush=True)
    base = [{"key": c.key, "peft_params": bound.params(c),
             "peft_pct": 100 * bound.params(c) / bound.dims.backbone_params, "candidate": c.to_json()}
            for c in candidates]

    standalone = reused_standalone(args.standalone_from, base)
    if standalone:
        pd.DataFrame(standalone).to_csv(out / "standalone.csv", index=False)
    for text in ([] if standalone else args.standalone.split(";")):
        fidelity = parse_fidelity(text)
        for row, cand in zip(base, candidates, strict=True):
            r = worker.evaluate(Job.of(cand, fidelity, seed=args.seed))
            standalone.append({**row, "fidelity": fidelity.label(), "score": r.score, "wall_s": r.wall_s,
                               "status": r.status, "reason": r.reason, "device": str(worker.device)})
            print(f"standalone {fidelity.label()} {cand.key}: {r.score} ({r.wall_s:.1f}s)", flush=True)
            pd.DataFrame(standalone).to_csv(out / "standalone.csv", index=False)

    proxies = []
    for setting, train_dtype in itertools.product(args.supernets.split(","), args.train_dtypes.split(",")):
        sampling, steps = setting.split(":")
        plan = SupernetPlan(steps=int(steps), sampling=sampling, proxy_dtype=args.proxy_dtype, train_dtype=train_dtype)
        trainer = SupernetTrainer(worker.model, worker.task, bound, budget, plan, seed=args.seed, device=worker.device)
        start = time.perf_counter()
        trainer.train()
        train_s = time.perf_counter() - start
        print(f"supernet {setting} ({train_dtype}): trained in {train_s:.1f}s", flush=True)
        for n_eval in (int(v) for v in args.proxy_evals.split(",")):
            trainer.plan = dataclasses.replace(plan, eval=n_eval)
            for finetune in (int(v) for v in args.finetune.split(",")):
                for row, cand in zip(base, candidates, strict=True):
                    r = trainer.proxy(cand, finetune_steps=finetune)
                    ok = r.status == "ok"
                    proxies.append({**row, "sampling": sampling, "supernet_steps": int(steps),
                                    "supernet_train_s": round(train_s, 1), "eval": n_eval, "finetune": finetune,
                                    "accuracy": r.score, "loss": (r.metrics or {}).get("loss") if ok else None,
                                    "wall_s": r.wall_s, "status": r.status, "reason": r.reason,
                                    "proxy_dtype": args.proxy_dtype, "train_dtype": train_dtype,
                                    "device": str(worker.device)})
                print(f"  proxies eval={n_eval} finetune={finetune}: done", flush=True)
                pd.DataFrame(proxies).to_csv(out / "proxies.csv", index=False)
        trainer.close()

    write_summary(pd.DataFrame(standalone), pd.DataFrame(proxies), args, out)


def reused_standalone(path: str | None, base: list[dict]) -> list[dict]:
    """Standalone rows from an earlier run of the same candidates (checked by key), or none."""
    if not path:
        return []
    rows = pd.read_csv(path).to_dict("records")
    if {r["key"] for r in rows} != {b["key"] for b in base}:
        raise SystemExit(f"{path} holds other candidates than this run's --n/--seed draw")
    return rows


def write_summary(standalone: pd.DataFrame, proxies: pd.DataFrame, args: argparse.Namespace, out: Path) -> None:
    if "train_dtype" not in proxies:  # runs from before the supernet trained under bf16 autocast
        proxies = proxies.assign(train_dtype="float32")
    summary = summarise(standalone, proxies, args)
    summary.to_csv(out / "summary.csv", index=False)
    agreement = dtype_agreement(proxies)
    if len(agreement):
        agreement.to_csv(out / "train_dtype_agreement.csv", index=False)
        print(agreement.to_string(index=False), flush=True)
    with pd.option_context("display.width", 200, "display.max_columns", 30):
        print(summary.to_string(index=False), flush=True)
    plot(standalone, proxies, summary, out)


def summarise(standalone: pd.DataFrame, proxies: pd.DataFrame, args: argparse.Namespace) -> pd.DataFrame:
    """Kendall tau and Spearman rho of every proxy setting and signal against every standalone
    fidelity; beside them the parameter count's own correlation (a free proxy every strategy
    already has) and each proxy's partial Spearman rho given the parameter count (what it adds)."""
    from scipy.stats import kendalltau, spearmanr

    rows = []
    setting_cols = ["sampling", "supernet_steps", "train_dtype", "eval", "finetune"]
    meta = {"model": args.model, "task": args.task, "space": args.space, "budget": args.budget}
    for fidelity, truth in standalone[standalone.status == "ok"].groupby("fidelity"):
        tau, tau_p = kendalltau(truth.peft_params, truth.score)
        rho, rho_p = spearmanr(truth.peft_params, truth.score)
        rows.append({"sampling": "none", "signal": "peft_params", "standalone": fidelity, "candidates": len(truth),
                     "kendall_tau": round(tau, 3), "kendall_p": round(tau_p, 4), "spearman_rho": round(rho, 3),
                     "spearman_p": round(rho_p, 4), "proxy_s": 0.0, "cost_ratio": 0.0, **meta,
                     "device": truth.device.iloc[0]})
        truth = truth.set_index("key")
        for setting, group in proxies[proxies.status == "ok"].groupby(setting_cols):
            group = group.set_index("key").merge(truth[["score", "wall_s"]], left_index=True, right_index=True,
                                                  suffixes=("", "_standalone"))
            group["neg_loss"] = -group["loss"]
            for signal in SIGNALS:
                tau, tau_p = kendalltau(group[signal], group.score)
                rho, rho_p = spearmanr(group[signal], group.score)
                rows.append({
                    **dict(zip(setting_cols, setting, strict=True)), "signal": signal, "standalone": fidelity,
                    "candidates": len(group), "kendall_tau": round(tau, 3), "kendall_p": round(tau_p, 4),
                    "spearman_rho": round(rho, 3), "spearman_p": round(rho_p, 4),
                    "partial_rho_given_params": round(partial_rank_corr(group[signal], group.score,
                                                                        group.peft_params), 3),
                    "supernet_train_s": group.supernet_train_s.iloc[0],
                    "proxy_s": round(group.wall_s.mean(), 3), "standalone_s": round(group.wall_s_standalone.mean(), 2),
                    "cost_ratio": round(group.wall_s.mean() / group.wall_s_standalone.mean(), 4),
                    **meta, "device": group.device.iloc[0],
                })
    first = ["sampling", "supernet_steps", "train_dtype", "eval", "finetune", "signal", "standalone", "candidates"]
    df = pd.DataFrame(rows)
    return df[first + [c for c in df.columns if c not in first]]


def dtype_agreement(proxies: pd.DataFrame) -> pd.DataFrame:
    """Where supernets were trained in both float32 and bfloat16 (same steps, sampling, seed):
    Spearman rho between their proxies' dev losses over the same candidates, and the mean
    absolute loss difference."""
    from scipy.stats import spearmanr

    if "train_dtype" not in proxies or proxies.train_dtype.nunique() < 2:
        return pd.DataFrame()
    ok = proxies[proxies.status == "ok"]
    wide = ok.pivot_table(index=["sampling", "supernet_steps", "eval", "finetune", "key"], columns="train_dtype",
                          values="loss")
    rows = []
    for setting, g in wide.groupby(level=[0, 1, 2, 3]):
        g = g.dropna()
        rows.append({"sampling": setting[0], "supernet_steps": setting[1], "eval": setting[2], "finetune": setting[3],
                     "candidates": len(g), "spearman_rho_fp32_vs_bf16": round(spearmanr(g.float32, g.bfloat16)[0], 3),
                     "mean_abs_loss_diff": round(float((g.float32 - g.bfloat16).abs().mean()), 4),
                     "mean_loss_fp32": round(float(g.float32.mean()), 4),
                     "mean_loss_bf16": round(float(g.bfloat16.mean()), 4)})
    return pd.DataFrame(rows)


def partial_rank_corr(x: pd.Series, y: pd.Series, z: pd.Series) -> float:
    """Spearman correlation of x and y with z's (linear, on ranks) part removed from both."""
    import numpy as np

    rx, ry, rz = (s.rank().to_numpy(dtype=float) for s in (x, y, z))
    design = np.column_stack([rz, np.ones_like(rz)])

    def residual(v: np.ndarray) -> np.ndarray:
        return v - design @ np.linalg.lstsq(design, v, rcond=None)[0]

    return float(np.corrcoef(residual(rx), residual(ry))[0, 1])


def plot(standalone: pd.DataFrame, proxies: pd.DataFrame, summary: pd.DataFrame, out: Path) -> None:
    """Spearman rho per proxy setting; and the best setting's proxy against standalone scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    first = summary.standalone.iloc[0]
    s = summary[(summary.standalone == first) & (summary.signal != "peft_params")].copy()
    s["label"] = (s.sampling + ":" + s.supernet_steps.astype(str) + " " + s.train_dtype.str.replace("float", "fp")
                  + " eval=" + s["eval"].astype(str) + " ft=" + s.finetune.astype(str))
    wide = s.pivot_table(index="label", columns="signal", values="spearman_rho", sort=False)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * len(wide) + 1.6), dpi=130)
    wide.plot.barh(ax=ax)
    ax.axvline(0, color="k", lw=0.6)
    ax.set_xlabel(f"Spearman ρ with standalone score ({first})")
    ax.set_title("Supernet proxy settings: rank correlation with standalone training")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "rho_by_setting.png")
    plt.close(fig)

    best = s.sort_values("spearman_rho", ascending=False).iloc[0]
    sel = proxies[(proxies.sampling == best.sampling) & (proxies.supernet_steps == best.supernet_steps)
                  & (proxies.train_dtype == best.train_dtype)
                  & (proxies["eval"] == best["eval"]) & (proxies.finetune == best.finetune) & (proxies.status == "ok")]
    truth = standalone[(standalone.fidelity == first) & (standalone.status == "ok")].set_index("key")
    sel = sel.set_index("key").join(truth[["score"]], how="inner")
    x = sel.accuracy if best.signal == "accuracy" else -sel.loss
    fig, ax = plt.subplots(figsize=(6.4, 5.2), dpi=130)
    sc = ax.scatter(x, sel.score, c=sel.peft_pct, cmap="viridis", s=42, edgecolor="k", lw=0.4)
    fig.colorbar(sc, ax=ax, label="PEFT parameters (% of backbone)")
    ax.set_xlabel(f"proxy: {best.signal} on {best['eval']} dev examples ({best.label})")
    ax.set_ylabel(f"standalone dev accuracy ({first})")
    ax.set_title(f"Best proxy: Kendall τ = {best.kendall_tau:.2f}, Spearman ρ = {best.spearman_rho:.2f}")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "best_proxy_vs_standalone.png")
    plt.close(fig)


if __name__ == "__main__":
    main()
