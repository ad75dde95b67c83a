"""Is there anything in the space better than the best baseline? The searches' own finds, retrained.

The user's table asks whether a 10-trial search's pick beats the best hand-designed baseline; every
arm so far is level with it or behind. That is either the search failing to find what is there, or
nothing being there to find. This study looks: of every candidate a search arm picked and retrained
(`retrained.csv`, all arms together, the equivalent of a much longer search), the top three by their
dev score at `standard` (never test) that are not a hand-designed baseline are trained again at
`standard` with three seeds no run has used (103-105), beside the baseline with the best dev score at
`standard` and `lora-r8` as it fits the budget, with the same seeds, and scored on `test`.

The selection is written once to `<config>/headroom/selection.csv` (later retrainings would change
it; delete the file to select again). Resumable like run.py (each training is skipped once its
result exists; two runners may share the queue):

    .venv/bin/python experiments/search_quality/headroom.py --machine cpu --threads 1   # train
    .venv/bin/python experiments/search_quality/headroom.py --machine cpu --only tweets-0.05 mnist-0.5 --more  # 106-108
    .venv/bin/python experiments/search_quality/headroom.py --machine cpu --only tweets-0.05 \
        --extra found-1 found-2 found-3  # 109-114
    .venv/bin/python experiments/search_quality/headroom.py --machine cpu --analyse     # headroom.md
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
from analyse import paired_gap  # noqa: I001 (this folder's modules)
from run import CONFIGS, PRECISION, Config, study_parser
from steps import CLI, Step, run_step

HERE = Path(__file__).resolve().parent
SEEDS = (103, 104, 105)  # fresh: the picks were retrained with 100-102, and the selection used their dev
MORE_SEEDS = (106, 107, 108)  # --more: three more, in `<role>/more/`, where three pairs leave p ~ 0.1
EXTRA_SEEDS = (109, 110, 111, 112, 113, 114)  # --extra ROLE: six more, in `<role>/extra/`, for small gaps
TOP = 3  # non-baseline candidates per config
USER_DEFAULT = "lora-r8"  # the peft docs' LoRA, as it fits the budget (lora-r8@r1 at the small budgets)


def _key(candidate: str) -> str:
    return json.dumps(json.loads(candidate), sort_keys=True)


def _retrained_baselines(base: Path) -> pd.DataFrame:
    df = pd.read_csv(base / "retrained.csv")
    return df[(df["source"] == "baseline") & (df["status"] == "ok")]


def ranked_baselines(base: Path) -> pd.Series:
    """The retrained baselines' mean dev score at `standard`, best first (no test score is used)."""
    return _retrained_baselines(base).groupby("pick")["dev"].mean().sort_values(ascending=False)


def best_baseline_now(base: Path) -> str:
    """The candidate (canonical key) of the baseline with the best mean dev at `standard` in today's
    retrained.csv: since the shrunk baselines (7d1531f) it is not always the selection's `best-baseline`."""
    df = _retrained_baselines(base)
    best = df.groupby("pick")["dev"].mean().idxmax()
    return _key(df[df["pick"] == best]["candidate"].iloc[0])


def select(base: Path) -> pd.DataFrame:
    """The config's candidates to retrain: the top non-baseline ones by mean dev at `standard`, the
    baseline with the best mean dev there, and `lora-r8` as it fits."""
    df = pd.read_csv(base / "retrained.csv")
    df = df[(df["status"] == "ok") & (df["source"] != "user")].copy()  # AdaLoRA reruns: not a fixed candidate
    df["key"] = df["candidate"].map(_key)
    names = df[df["source"] == "baseline"].groupby("key")["pick"].first()
    df = df.drop_duplicates(["key", "seed"])  # a pick that is a baseline was retrained with the baseline's seeds
    cands = df.groupby("key").agg(dev=("dev", "mean"), n=("dev", "size"), peft_params=("peft_params", "first"),
                                  sources=("source", lambda s: " ".join(sorted(set(s)))),
                                  candidate=("candidate", "first"))
    cands["baseline"] = cands.index.map(lambda k: names.get(k, ""))
    cands = cands.sort_values("dev", ascending=False)
    found = cands[cands["baseline"] == ""].head(TOP)
    found = found.assign(role=[f"found-{i + 1}" for i in range(len(found))])
    bls = cands[cands["baseline"] != ""]
    chosen = [found, bls.head(1).assign(role="best-baseline")]
    user = bls[bls["baseline"].str.partition("@")[0] == USER_DEFAULT]
    if len(user) and user.index[0] != bls.index[0]:
        chosen.append(user.head(1).assign(role="user-default"))
    out = pd.concat(chosen).reset_index(drop=True)
    return out[["role", "baseline", "sources", "peft_params", "dev", "n", "candidate"]]


def selection(base: Path) -> pd.DataFrame:
    path = base / "headroom" / "selection.csv"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        select(base).to_csv(path, index=False)
    return pd.read_csv(path, keep_default_na=False)


def steps(cfg: Config, base: Path, threads: list[str], more: bool = False, extra: tuple[str, ...] = ()) -> list[Step]:
    out = []
    for row in selection(base).itertuples():
        d = base / "headroom" / row.role
        d.mkdir(parents=True, exist_ok=True)
        (d / "candidate.json").write_text(row.candidate)
        batches = [(SEEDS, d, row.role)] + ([(MORE_SEEDS, d / "more", f"{row.role} more")] if more else [])
        batches += [(EXTRA_SEEDS, d / "extra", f"{row.role} extra")] if row.role in extra else []
        for seeds, o, name in batches:
            cmd = [CLI, "train", str(d / "candidate.json"), *cfg.args(), "--fidelity", "standard",
                   "--seeds", ",".join(map(str, seeds)), "--report", "--out", str(o), *threads, *PRECISION]
            out.append(Step(f"headroom {cfg.name} {name}", cmd, o / "result.json"))
    return out


def results(base: Path) -> pd.DataFrame:
    rows = []
    now = best_baseline_now(base)
    for sel in selection(base).itertuples():
        d = base / "headroom" / sel.role
        for run in [r for path in (d / "result.json", d / "more" / "result.json", d / "extra" / "result.json")
                    if path.is_file()
                    for r in json.loads(path.read_text())["runs"]]:
            rows.append({"config": base.name, "role": sel.role, "what": sel.baseline or sel.sources,
                         "peft_params": run["peft_params"], "selection_dev": sel.dev, "seed": run["seed"],
                         "dev": run["score"], "test": (run["reports"].get("test") or {}).get("score"),
                         "status": run["status"], "best_baseline_now": _key(sel.candidate) == now})
    return pd.DataFrame(rows)


def table(df: pd.DataFrame) -> str:
    lines = ["| config | candidate | found by / baseline | PEFT params | dev at selection | test (seeds) "
             "| against the best baseline: difference, paired p | against lora-r8 as it fits "
             "| against today's best baseline |",
             "|---|---|---|---:|---:|---:|---:|---:|---:|"]
    for config, c in df.groupby("config", sort=False):
        ok = c[c["status"] == "ok"]
        refs = {role: ok[ok["role"] == role] for role in ("best-baseline", "user-default")}
        refs["user-default"] = refs["user-default"] if len(refs["user-default"]) else refs["best-baseline"]
        refs["now"] = ok[ok["best_baseline_now"]]  # empty where the selection's best-baseline is it
        refs["now"] = refs["now"] if len(refs["now"]) and refs["now"]["role"].iloc[0] != "best-baseline" else ok[:0]
        for role, g in ok.groupby("role", sort=False):
            cells = []
            for ref in refs.values():
                if not len(ref) or ref["role"].iloc[0] == role:
                    cells.append("")
                    continue
                n, gap, p = paired_gap(g, ref)
                cells.append(f"{gap:+.4f}, p = {p:.3f} ({n})" if n else "")
            sd = g["test"].std(ddof=1) if len(g) > 1 else math.nan
            lines.append(f"| {config} | {role} | {g['what'].iloc[0]} | {int(g['peft_params'].iloc[0]):,} | "
                         f"{g['selection_dev'].iloc[0]:.4f} | {g['test'].mean():.4f} ± {sd:.4f} ({len(g)}) | "
                         f"{cells[0]} | {cells[1]} | {cells[2]} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = study_parser(__doc__, "headroom.csv and headroom.md")
    ap.add_argument("--more", action="store_true", help=f"also train seeds {MORE_SEEDS} (after the first three)")
    ap.add_argument("--extra", nargs="*", default=[], metavar="ROLE",
                    help=f"also train seeds {EXTRA_SEEDS} of these roles (e.g. found-1), in <role>/extra/")
    args = ap.parse_args()
    bases = [(CONFIGS[name], HERE / args.machine / name) for name in args.only]
    if args.analyse:
        df = pd.concat([results(base) for _, base in bases])
        df.to_csv(HERE / args.machine / "headroom.csv", index=False)
        (HERE / args.machine / "headroom.md").write_text(table(df))
        print(table(df))
        return
    threads = ["--threads", str(args.threads)] if args.threads else []
    for cfg, base in bases:
        for step in steps(cfg, base, threads, args.more, tuple(args.extra)):
            if not step.done():
                run_step(step, base / "log")


if __name__ == "__main__":
    main()
