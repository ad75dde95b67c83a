"""Do the methods' default learning rates hold at the final length, alone and inside a hybrid?

Issue 19 lists per-method learning rates inside a hybrid among the suspects for a search that does not
beat the best baseline, and it is the one no arm has measured. Each method trains at its default rate
(`METHODS[m].default_lr`), the best of a 3-seed sweep at 300 steps (experiments/train_speed) whose
300-step grid started at that default for LoRA, (IA)³, BitFit, the serial adapter and prefix tuning:
nothing below it was tried at the final length. A hybrid stacks several methods, each at the rate
that was best for it alone, so its total update may be too large. If the rates were the gap, the
hybrids would gain from lower rates more than the baselines do.

Here the headroom study's candidates (its seeds 103-105, trained at the defaults: `headroom/<role>/`)
are trained again with every method's rate scaled (`SCALE`, written as `lr` in the candidate's
globals; the head keeps its rate), same seeds, `standard`, scored on dev and test, paired by seed.
Resumable like run.py (each training is skipped once its result exists; two runners may share it):

    .venv/bin/python experiments/search_quality/rates.py --machine cpu --threads 1   # train
    .venv/bin/python experiments/search_quality/rates.py --machine cpu --analyse     # rates.md
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from analyse import paired_gap  # noqa: I001 (this folder's modules)
from headroom import SEEDS, selection
from run import CONFIGS, PRECISION, Config, study_parser
from steps import CLI, Step, run_step

from autopeft.methods.registry import METHODS

HERE = Path(__file__).resolve().parent
SCALES = (1 / 3,)  # one step below the sweep's 300-step grid (its grid steps by about 3x)
# per config, the headroom roles to retrain: the best baseline at `standard` (at 0.05% today's,
# `ia3@t2`, which the headroom selection holds as found-3) and the best hybrids found
ROLES = {"tweets-0.5": ("best-baseline", "found-2", "found-1"),
         "tweets-0.05": ("found-3", "found-2", "found-1"),
         "mnist-0.5": ("best-baseline", "found-3")}


def scaled(candidate: str, scale: float) -> str:
    """The candidate with every method it uses at `scale` times its default rate."""
    cand = json.loads(candidate)
    used = {m for layer in cand["layers"] for m in layer}
    glob = cand.setdefault("globals", {})
    for m in sorted(used):
        glob.setdefault(m, {})["lr"] = float(f"{METHODS[m].default_lr * scale:.4g}")
    return json.dumps(cand, sort_keys=True)


def _dir(base: Path, role: str, scale: float) -> Path:
    return base / "rates" / f"{role}-x{scale:.2f}"


def steps(cfg: Config, base: Path, threads: list[str]) -> list[Step]:
    out = []
    rows = selection(base).set_index("role")
    for role in ROLES[cfg.name]:
        for scale in SCALES:
            d = _dir(base, role, scale)
            d.mkdir(parents=True, exist_ok=True)
            (d / "candidate.json").write_text(scaled(rows.loc[role, "candidate"], scale))
            cmd = [CLI, "train", str(d / "candidate.json"), *cfg.args(), "--fidelity", "standard",
                   "--seeds", ",".join(map(str, SEEDS)), "--report", "--out", str(d), *threads, *PRECISION]
            out.append(Step(f"rates {cfg.name} {role} x{scale:.2f}", cmd, d / "result.json"))
    return out


def _runs(path: Path, **fields: object) -> list[dict]:
    if not path.is_file():
        return []
    return [{**fields, "seed": r["seed"], "peft_params": r["peft_params"], "dev": r["score"],
             "test": (r["reports"].get("test") or {}).get("score"), "status": r["status"]}
            for r in json.loads(path.read_text())["runs"] if r["seed"] in SEEDS]


def results(base: Path) -> pd.DataFrame:
    rows = []
    sel = selection(base).set_index("role")
    for role in ROLES[base.name]:
        what = sel.loc[role, "baseline"] or f"hybrid ({sel.loc[role, 'sources']})"
        common = {"config": base.name, "role": role, "what": what}
        rows += _runs(base / "headroom" / role / "result.json", **common, scale=1.0)
        for scale in SCALES:
            rows += _runs(_dir(base, role, scale) / "result.json", **common, scale=scale)
    return pd.DataFrame(rows)


def _gap(a: pd.DataFrame, b: pd.DataFrame, col: str) -> str:
    n, gap, p = paired_gap(a.assign(test=a[col]), b.assign(test=b[col]))
    return f"{gap:+.4f}, p = {p:.3f}" if n > 1 and not math.isnan(p) else ""


def table(df: pd.DataFrame) -> str:
    lines = ["| config | candidate | what | PEFT params | rate scale | dev (mean ± sd) | test (mean ± sd) "
             "| dev against the defaults, paired p | test against the defaults, paired p |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    ok = df[df["status"] == "ok"]
    for (config, role), g in ok.groupby(["config", "role"], sort=False):
        ref = g[g["scale"] == 1.0]
        for scale, s in g.groupby("scale", sort=False):
            cells = ("", "") if scale == 1.0 else (_gap(s, ref, "dev"), _gap(s, ref, "test"))
            lines.append(f"| {config} | {role} | {s['what'].iloc[0]} | {int(s['peft_params'].iloc[0]):,} | "
                         f"{scale:.2f} | {s['dev'].mean():.4f} ± {s['dev'].std(ddof=1):.4f} | "
                         f"{s['test'].mean():.4f} ± {s['test'].std(ddof=1):.4f} ({len(s)}) | {cells[0]} | {cells[1]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = study_parser(__doc__, "rates.csv and rates.md")
    args = ap.parse_args()
    bases = [(CONFIGS[name], HERE / args.machine / name) for name in args.only]
    if args.analyse:
        df = pd.concat([results(base) for _, base in bases])
        df.to_csv(HERE / args.machine / "rates.csv", index=False)
        (HERE / args.machine / "rates.md").write_text(table(df))
        print(table(df))
        return
    threads = ["--threads", str(args.threads)] if args.threads else []
    for cfg, base in bases:
        for step in steps(cfg, base, threads):
            if not step.done():
                run_step(step, base / "log")


if __name__ == "__main__":
    main()
