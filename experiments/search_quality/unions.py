"""Do the best baselines together beat the best alone? Unions of the top hand-designed baselines.

Hybrids are the `full` space's reason to exist (AutoPEFT, MAM, UniPELT), yet every search arm's pick
is level with the best single baseline or behind it, and the headroom study found nothing in the
searches' picks ahead of it at 0.5% (headroom.py). The simplest hybrids a designer would try by hand
are the best baselines put together. This study trains them: per config, the top three baselines by
mean dev score at `standard` (retrained.csv, never test), and every union of two or three of them
whose methods do not overlap (two LoRAs cannot be merged into one without choosing a rank) and whose
parameters fit the budget, at `standard` with the headroom study's fresh seeds (103-108), beside the
best baseline with the same seeds, scored on `test`. A training the headroom study already made (the
same candidate and seeds; retraining is deterministic here) is read from there, not repeated.

If a union is ahead, the fitting unions belong among the default search's first trials; if none is,
that is more evidence that at these budgets the best baseline is what the space holds.

    .venv/bin/python experiments/search_quality/unions.py --machine cpu --threads 1   # train (resumable)
    .venv/bin/python experiments/search_quality/unions.py --machine cpu --analyse     # unions.md
"""

from __future__ import annotations

import json
from itertools import combinations
from pathlib import Path

import pandas as pd
from headroom import MORE_SEEDS, SEEDS, _key, ranked_baselines  # noqa: I001 (this folder's modules)
from run import CONFIGS, PRECISION, Config, study_parser
from steps import CLI, Step, run_step

from autopeft.backbones import load_config
from autopeft.methods.anatomy import dims_from_config, resolve
from autopeft.methods.candidate import Candidate
from autopeft.methods.count import count_dims
from autopeft.space.baselines import baseline

HERE = Path(__file__).resolve().parent
TOP = 3  # baselines to combine, by mean dev at `standard`
BATCHES = (("", SEEDS), ("more", MORE_SEEDS))


def union(cands: list[Candidate]) -> Candidate:
    """One candidate with every member's methods in every layer (their methods must not overlap)."""
    layers = [{m: o for c in cands for m, o in c.layers[i].items()} for i in range(len(cands[0].layers))]
    return Candidate(layers, {m: g for c in cands for m, g in c.globals.items()})


def plan(cfg: Config, base: Path) -> pd.DataFrame:
    """The best baseline and the fitting unions of the top TOP, with their sizes (written once)."""
    path = base / "unions" / "selection.csv"
    if path.is_file():
        return pd.read_csv(path)
    config = load_config(cfg.model)
    dims = dims_from_config(config, resolve(config))
    budget = json.loads((base / "runs" / "warm-s0" / "run.json").read_text())["budget"]["peft_params"]
    top = list(ranked_baselines(base).index[:TOP])
    cands = {name: baseline(name, dims) for name in top}
    rows = [{"role": "best-baseline", "name": top[0], "fits": True,
             "peft_params": count_dims(cands[top[0]], dims).peft_params, "candidate": cands[top[0]].to_json()}]
    for k in (2, 3):
        for names in combinations(top, k):
            methods = [set(cands[n].methods) for n in names]
            if len(set().union(*methods)) < sum(map(len, methods)):
                continue  # overlapping methods: no single union
            cand = union([cands[n] for n in names])
            params = count_dims(cand, dims).peft_params
            rows.append({"role": "union-" + "+".join(names), "name": " + ".join(names), "fits": params <= budget,
                         "peft_params": params, "candidate": cand.to_json()})
    out = pd.DataFrame(rows).assign(budget=budget)
    path.parent.mkdir(parents=True, exist_ok=True)
    out.to_csv(path, index=False)
    return out


def _earlier(base: Path, candidate: str, seeds: tuple[int, ...]) -> Path | None:
    """A headroom result.json of the same candidate with exactly these seeds, if one exists."""
    for cand_file in (base / "headroom").glob("*/candidate.json"):
        if _key(cand_file.read_text()) == _key(candidate):
            for res in (cand_file.parent / "result.json", cand_file.parent / "more" / "result.json"):
                if res.is_file() and tuple(r["seed"] for r in json.loads(res.read_text())["runs"]) == seeds:
                    return res
    return None


def steps(cfg: Config, base: Path, threads: list[str]) -> list[Step]:
    out = []
    for row in plan(cfg, base).itertuples():
        if not row.fits:
            continue
        d = base / "unions" / row.role
        d.mkdir(parents=True, exist_ok=True)
        (d / "candidate.json").write_text(row.candidate)
        for sub, seeds in BATCHES:
            if _earlier(base, row.candidate, seeds):
                continue
            o = d / sub  # "" is d itself
            cmd = [CLI, "train", str(d / "candidate.json"), *cfg.args(), "--fidelity", "standard",
                   "--seeds", ",".join(map(str, seeds)), "--report", "--out", str(o), *threads, *PRECISION]
            out.append(Step(f"unions {cfg.name} {row.role} {sub}".strip(), cmd, o / "result.json"))
    return out


def results(cfg: Config, base: Path) -> pd.DataFrame:
    rows = []
    for row in plan(cfg, base).itertuples():
        if not row.fits:
            continue
        d = base / "unions" / row.role
        for sub, seeds in BATCHES:
            res = _earlier(base, row.candidate, seeds) or d / sub / "result.json"
            if not res.is_file():
                continue
            for run in json.loads(res.read_text())["runs"]:
                rows.append({"config": base.name, "role": row.role, "name": row.name, "peft_params": run["peft_params"],
                             "seed": run["seed"], "dev": run["score"], "status": run["status"],
                             "test": (run["reports"].get("test") or {}).get("score"),
                             "source": str(res.relative_to(base))})
    return pd.DataFrame(rows)


def table(plans: dict[str, pd.DataFrame], df: pd.DataFrame) -> str:
    from analyse import paired_gap

    lines = ["| config | candidate | PEFT params (budget) | test (seeds) | against the best baseline: "
             "difference, paired p |", "|---|---|---:|---:|---:|"]
    for config, p in plans.items():
        c = df[(df["config"] == config) & (df["status"] == "ok")] if len(df) else df
        ref = c[c["role"] == "best-baseline"] if len(c) else c
        for row in p.itertuples():
            g = c[c["role"] == row.role] if len(c) else c
            size = f"{int(row.peft_params):,} ({int(row.budget):,})"
            if not row.fits:
                lines.append(f"| {config} | {row.name} | {size} | over the budget | |")
                continue
            if not len(g):
                lines.append(f"| {config} | {row.name} | {size} | not trained yet | |")
                continue
            n, gap, pv = paired_gap(g, ref) if row.role != "best-baseline" else (0, 0.0, 0.0)
            diff = f"{gap:+.4f}, p = {pv:.3f} ({n} pairs)" if n else ""
            lines.append(f"| {config} | {row.name} | {size} | {g['test'].mean():.4f} ± {g['test'].std(ddof=1):.4f} "
                         f"({len(g)}) | {diff} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = study_parser(__doc__, "unions.csv and unions.md")
    args = ap.parse_args()
    bases = [(CONFIGS[name], HERE / args.machine / name) for name in args.only]
    if args.analyse:
        plans = {base.name: plan(cfg, base) for cfg, base in bases}
        df = pd.concat([results(cfg, base) for cfg, base in bases])
        df.to_csv(HERE / args.machine / "unions.csv", index=False)
        (HERE / args.machine / "unions.md").write_text(table(plans, df))
        print(table(plans, df))
        return
    threads = ["--threads", str(args.threads)] if args.threads else []
    for cfg, base in bases:
        for step in steps(cfg, base, threads):
            if not step.done():
                run_step(step, base / "log")


if __name__ == "__main__":
    main()
