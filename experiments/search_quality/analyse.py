"""The user's table from what run.py wrote: every retrained pick and baseline, and the comparisons.

For each config folder (`<machine>/<config>/`) it writes:
- `retrained.csv`: one row per retraining (`standard`, a fresh seed): source, pick, search seed, trial,
  PEFT parameters, the search's dev score at `quick`, dev and test at `standard`;
- `baselines.csv`: every baseline that fits, at `quick` (dev and test), as the searches trained;
- `user_table.md`: per source the mean and spread of the test score, and each search's picks
  against the best retrained baseline at no more parameters (Welch's two-sample t-test over seeds);
- `fronts.png`: the searches' fronts at `quick` with the baselines and AdaLoRA marked;
and across configs `<machine>/selection.csv`: how well what a search selects on (its dev score at
`quick`) ranks the retrained candidates' test scores, against the dev score at `standard` and the
parameter count, over all of them and over the top half by the `quick` score (where picks are made).

    .venv/bin/python experiments/search_quality/analyse.py --machine cpu
"""

from __future__ import annotations

import argparse
import json
import math
from pathlib import Path

import pandas as pd
from clock_analysis import clock_curves, clock_machines, clock_png  # noqa: I001 (this folder's module)

HERE = Path(__file__).resolve().parent
SOURCES = {"mobo": "mobo, max-min start (the default search until start=baselines)",
           "adalora": "--strategy adalora's pick (plain LoRA on AdaLoRA's allocation won its front)",
           "peft": "search --exportable peft (mobo, lora space)",
           "warm": "default search (mobo, the expressible baselines first)", "baseline": "hand-designed baseline",
           "user": "AdaLoRA as its user runs it (whole budget)",
           "asha": "asha (multi-fidelity mobo up to standard, the default search's steps)",
           "asha2": "asha, 2 rungs (100 steps, the top third confirmed at 300), the default search's steps",
           "asha2s": "asha2 with the top third by dev score confirmed (promote=score), the default search's steps",
           "asha2s_r1": "asha2s in `full` with LoRA rank 1 in its grid (full_r1.yaml)",
           "warm_tied": "default search in a structured space (one choice per method for all layers; full_tied.yaml)",
           "asha2s_tied": "asha2s in the structured space (full_tied.yaml)",
           "warm20": "default search with 20 trials (warm's 10 continued to 20)",
           "warm_dev5k": "default search scoring each trial on all 5,000 dev tweets (quick,eval=all)",
           "warm_region": "default search with a trust region (proposals within 4 modules of the best trial)",
           "warm_prefix": "default search scoring the first 100 steps of the 300-step schedule (standard,stop=100)"}
# a search followed by confirm.py's pass: its top 3 at quick trained on 2 more seeds, the best mean picked
SOURCES |= {f"{k}_confirm": f"{v}, + its top 3 on 2 more seeds (confirm.py)" for k, v in list(SOURCES.items())
            if k not in ("baseline", "user")}
DEFAULT_SOURCE = "warm"  # the default search (`mobo:start=baselines`), which other strategies are paired with
MAXMIN_AS_DEFAULT = "default search (no baseline is expressible at this budget: the max-min `mobo` runs)"


def as_default(df: pd.DataFrame) -> tuple[pd.DataFrame, dict[str, str]]:
    """Where the default space expresses no fitting baseline `run.py` skips `warm`, as the default search
    is then the max-min search: its `mobo` rows stand for the default (with a label that says so)."""
    if (df["source"] == DEFAULT_SOURCE).any():
        return df, {}
    return df.replace({"source": {"mobo": DEFAULT_SOURCE}}), {DEFAULT_SOURCE: MAXMIN_AS_DEFAULT}


def _result(path: Path) -> dict:
    return json.loads(path.read_text())


def retrained(base: Path) -> pd.DataFrame:
    """Every finished retraining of a pick or a baseline."""
    rows = []
    for path in sorted((base / "runs" / "retrain").glob("*/result.json")):
        r = _result(path)
        label = path.parent.name
        if label.startswith("baseline-"):
            source, pick, seed, trial = "baseline", label.removeprefix("baseline-"), None, None
            at_quick = base / "runs" / "baselines" / pick / "result.json"  # its own run at the searches' fidelity
            quick = _result(at_quick).get("score") if at_quick.is_file() else None
        elif label.startswith("user-"):
            source, pick, seed, trial, quick = "user", label.removeprefix("user-"), None, None, None
        else:
            source, s, pick = label.split("-")
            seed = int(s.removeprefix("s"))
            trial, quick = _search_row(base / "runs" / f"{source}-{s}", r, pick)
        for run in r["runs"]:
            rows.append({"source": source, "pick": pick, "search_seed": seed, "trial": trial, "seed": run["seed"],
                         "peft_params": run["peft_params"], "quick_dev": quick, "dev": run["score"],
                         "test": (run["reports"].get("test") or {}).get("score"), "status": run["status"],
                         "wall_s": run["wall_s"], "candidate": run["candidate"]})
    return pd.DataFrame(rows)


def _search_row(run: Path, result: dict, pick: str) -> tuple[int | None, float | None]:
    """The pick's trial number and its dev score at `quick` in the search (from the run's front; None
    for a search whose front is at another fidelity: asha's, at `standard`)."""
    from autopeft.export import rundir

    confirmed = run / "confirm.csv"  # a confirmation pass (confirm.py): its pick, at its mean of three seeds
    if confirmed.is_file():
        row = pd.read_csv(confirmed).query("picked").iloc[0]
        return int(row["trial"]), float(row["mean"])
    r = rundir.read_run(run)
    row = rundir.best(r) if pick == "best" else rundir.knee(r)
    return int(row["trial"]), float(row["score"]) if _fidelity(run) == "quick" else None


def baselines(base: Path) -> pd.DataFrame:
    rows = []
    for path in sorted((base / "runs" / "baselines").glob("*/result.json")):
        r = _result(path)
        rows.append({"baseline": r["name"], "peft_params": r["peft_params"], "quick_dev": r["score"],
                     "quick_test": (r["reports"].get("test") or {}).get("score")})
    return pd.DataFrame(rows)


def welch(a: list[float], b: list[float]) -> float:
    """Two-sided p-value of Welch's t-test (nan with fewer than two values on a side)."""
    from scipy import stats

    if len(a) < 2 or len(b) < 2:
        return math.nan
    return float(stats.ttest_ind(a, b, equal_var=False).pvalue)


def paired(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, float]:
    """Pairs by training seed (a pick of search seed s is retrained with seed 100+s, every baseline with
    100-102: the seed fixes the head's init and the batch order, which moves every method alike) and
    the two-sided p-value of the paired t-test on their test scores (nan with fewer than 2 pairs)."""
    from scipy import stats

    m = a[["seed", "test"]].merge(b[["seed", "test"]], on="seed", suffixes=("_a", "_b")).dropna()
    if len(m) < 2:
        return len(m), math.nan
    return len(m), float(stats.ttest_rel(m["test_a"], m["test_b"]).pvalue)


def paired_gap(a: pd.DataFrame, b: pd.DataFrame) -> tuple[int, float, float]:
    """`paired`, with the mean test difference a - b over the seeds both have (not the difference of
    their means, which a reference trained on more seeds would skew)."""
    n, p = paired(a, b)
    m = a[["seed", "test"]].merge(b[["seed", "test"]], on="seed", suffixes=("_a", "_b")).dropna()
    return n, float((m["test_a"] - m["test_b"]).mean()) if len(m) else math.nan, p


def user_table(df: pd.DataFrame) -> str:
    """Markdown: each source's retrained test scores, and each search against the best baseline at no
    more parameters (a search's picks vary in size: the comparator fits under the largest of them)
    and against AdaLoRA as its user runs it."""
    df, labels = as_default(df)
    lines = ["| source | pick | n | PEFT params | test (mean ± sd) | dev (mean) |", "|---|---|---:|---:|---:|---:|"]
    groups = df[df["status"] == "ok"].groupby(["source", "pick"], sort=False)
    for (source, pick), g in groups:
        params = f"{int(g['peft_params'].min()):,}" + (f"-{int(g['peft_params'].max()):,}"
                                                        if g["peft_params"].nunique() > 1 else "")
        lines.append(f"| {labels.get(source, SOURCES.get(source, source))} | {pick} | {len(g)} | {params} | "
                     f"{g['test'].mean():.4f} ± {g['test'].std(ddof=1) if len(g) > 1 else 0:.4f} | "
                     f"{g['dev'].mean():.4f} |")
    lines += ["", "| search picks | vs (no more params) | test difference | Welch p | paired by seed: n, p |",
              "|---|---|---:|---:|---:|"]
    ok = df[df["status"] == "ok"]
    base, user = ok[ok["source"] == "baseline"], ok[ok["source"] == "user"]
    for (source, pick), g in groups:
        if source in ("baseline", "user"):
            continue
        for label, pool in (("baseline", base), ("AdaLoRA", user)):
            fits = pool[pool["peft_params"] <= g["peft_params"].max()] if label == "baseline" else pool
            if len(fits):
                lines.append(_comparison(labels.get(source, source), pick, g, fits))
        default = ok[(ok["source"] == DEFAULT_SOURCE) & (ok["pick"] == pick)]
        if source != DEFAULT_SOURCE and len(default):  # another strategy against the default search's picks
            lines.append(_comparison(source, pick, g, default.assign(pick=f"default search's {pick}")))
        searched = source.removesuffix("_confirm")  # a confirmation pass against its own search's picks
        own = ok[(ok["source"] == searched) & (ok["pick"] == pick)]
        if searched not in (source, DEFAULT_SOURCE) and len(own):
            lines.append(_comparison(source, pick, g, own.assign(pick=f"{searched}'s own {pick}")))
    return "\n".join(lines) + "\n"


def _comparison(source: str, pick: str, g: pd.DataFrame, fits: pd.DataFrame) -> str:
    """One row: a source's picks against the best of `fits` (by mean test score)."""
    best = fits.groupby("pick")["test"].mean().idxmax()
    ref = fits[fits["pick"] == best]["test"].tolist()
    diff = g["test"].mean() - sum(ref) / len(ref)
    sizes = fits[fits["pick"] == best]["peft_params"].astype(int)
    size = f"{sizes.min():,}" + (f"-{sizes.max():,}" if sizes.nunique() > 1 else "")
    n, p = paired(g, fits[fits["pick"] == best])
    return (f"| {SOURCES.get(source, source)}, {pick} | {best} ({size}) "
            f"| {diff:+.4f} | {welch(g['test'].tolist(), ref):.3f} | {n}, {p:.3f} |")


def pooled(tables: dict[str, pd.DataFrame]) -> str:
    """Markdown: each search's best picks against three references, paired by config and search seed
    over every config (3 configs x 3 seeds: more pairs than one config's 3, so a smaller difference can
    show): the default search's pick (the max-min search where no baseline is expressible, as `run.py`
    skips `warm` there: it is then the default's own search), the config's best baseline at no more
    parameters (chosen on test, as in user_table: an oracle no user has) and `lora-r8` as it fits the
    budget (the peft docs' choice, what a user who does not search trains). The 95% interval of the mean
    difference (t, over the pairs) says how far behind a search could be and still look like this: its
    lower end is the margin a non-inferiority claim can make."""
    from scipy import stats

    def refs(ok: pd.DataFrame, g: pd.DataFrame) -> dict[str, pd.DataFrame]:
        base = ok[ok["source"] == "baseline"]
        fits = base[base["peft_params"] <= g["peft_params"].max()]
        out = {"lora-r8 as it fits": base[base["pick"].str.startswith("lora-r8")]}
        if len(fits):
            out["best baseline at no more params"] = fits[fits["pick"] == fits.groupby("pick")["test"].mean().idxmax()]
        out["default search"] = ok[(ok["source"] == DEFAULT_SOURCE) & (ok["pick"] == "best")]
        return out

    diffs: dict[tuple[str, str], list[float]] = {}
    for df in tables.values():
        ok = as_default(df[df["status"] == "ok"])[0]
        for source, g in ok[(ok["pick"] == "best") & ~ok["source"].isin(["baseline", "user"])].groupby("source"):
            for ref, r in refs(ok, g).items():
                if ref == "default search" and source == DEFAULT_SOURCE:
                    continue
                m = g[["seed", "test"]].merge(r[["seed", "test"]], on="seed", suffixes=("_a", "_b")).dropna()
                diffs.setdefault((source, ref), []).extend((m["test_a"] - m["test_b"]).tolist())
    lines = ["| search (best pick) | against | pairs | test difference (mean ± sd) | 95% interval of the mean "
             "| ahead / level / behind | paired p |",
             "|---|---|---:|---:|---:|---:|---:|"]
    for (source, ref), d in sorted(diffs.items()):
        sd = pd.Series(d).std(ddof=1) if len(d) > 1 else math.nan
        p = float(stats.ttest_1samp(d, 0.0).pvalue) if len(d) > 1 and sd > 0 else math.nan
        mean = sum(d) / len(d)
        half = float(stats.t.ppf(0.975, len(d) - 1)) * sd / math.sqrt(len(d)) if len(d) > 1 else math.nan
        lines.append(f"| {SOURCES.get(source, source)} | {ref} | {len(d)} | {mean:+.4f} ± {sd:.4f} | "
                     f"[{mean - half:+.4f}, {mean + half:+.4f}] | "
                     f"{sum(x > 0 for x in d)} / {sum(x == 0 for x in d)} / {sum(x < 0 for x in d)} | {p:.3f} |")
    return "\n".join(lines) + "\n"


def _fidelity(run: Path) -> str | None:
    return json.loads((run / "run.json").read_text()).get("fidelity") if (run / "run.json").is_file() else None


def fronts_png(base: Path, bl: pd.DataFrame, out: Path) -> None:
    """The searches' fronts (dev at quick) with the baselines at quick and AdaLoRA's points (the
    searches at `quick`; asha's fronts are at `standard`, a different axis)."""
    from autopeft.report.style import RUN_COLOURS, new_figure, save_png, style

    with style():
        fig = new_figure(8, 5)
        ax = fig.add_subplot(1, 1, 1)
        for i, (label, _) in enumerate(SOURCES.items()):
            if label == "baseline":
                continue
            for run in sorted((base / "runs").glob(f"{label}-s*")):
                if not (run / "front.csv").is_file() or _fidelity(run) != "quick":
                    continue  # the multi-fidelity searches' fronts are at `standard`: not on this axis
                colour = RUN_COLOURS[i % len(RUN_COLOURS)]
                f = pd.read_csv(run / "front.csv").sort_values("peft_params")
                ax.step(f["peft_params"], f["score"], where="post", color=colour, alpha=0.7,
                        label=SOURCES[label] if run.name.endswith("s0") else None)
                ax.scatter(f["peft_params"], f["score"], color=colour, s=14)
                t = pd.read_csv(run / "trials.csv")
                # AdaLoRA's own runs, apart from the plain-LoRA retrains of their allocations
                if "recipe" in t and t["recipe"].astype(str).str.contains("adalora").any():
                    ada = t[t["recipe"].astype(str).str.contains("adalora") & (t["state"] == "complete")]
                    ax.scatter(ada["peft_params"], ada["score"], marker="^", s=50, facecolors="none",
                               edgecolors=colour, label="AdaLoRA runs" if run.name.endswith("s0") else None)
        if len(bl):
            ax.scatter(bl["peft_params"], bl["quick_dev"], marker="*", s=120, color="black", label="baselines",
                       zorder=5)
            for r in bl.itertuples():
                ax.annotate(r.baseline, (r.peft_params, r.quick_dev), fontsize=7, xytext=(3, 3),
                            textcoords="offset points")
        ax.set_xscale("log")
        ax.set_xlabel("PEFT parameters")
        ax.set_ylabel("dev accuracy at quick (100 steps)")
        ax.set_title(f"{base.name}: fronts of 3 search seeds and the baselines")
        ax.legend(loc="upper left", fontsize=8)
        save_png(fig, out)




def selection(name: str, df: pd.DataFrame) -> list[dict]:
    """Spearman rho with the mean retrained test score, per distinct retrained candidate, of its dev
    score at `quick` (what the search ranked it by), its dev at `standard` and its parameter count."""
    from scipy.stats import spearmanr

    ok = df[(df["status"] == "ok")].dropna(subset=["quick_dev", "test"])
    cands = ok.groupby("candidate").agg(quick_dev=("quick_dev", "first"), standard_dev=("dev", "mean"),
                                        params=("peft_params", "first"), test=("test", "mean"))
    rows = []
    top = cands[cands["quick_dev"] >= cands["quick_dev"].median()]
    for subset, part in (("all", cands), ("top half by quick dev", top)):
        row = {"config": name, "candidates": subset, "n": len(part)}
        for col in ("quick_dev", "standard_dev", "params"):
            rho = float(spearmanr(part[col], part["test"])[0]) if len(part) > 2 else math.nan
            row[f"rho_{col}_vs_test"] = round(rho, 3)
        rows.append(row)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="cpu")
    args = ap.parse_args()
    chosen: list[dict] = []
    tables: dict[str, pd.DataFrame] = {}
    for base in sorted(p for p in (HERE / args.machine).iterdir() if (p / "runs").is_dir()):
        df = retrained(base)
        bl = baselines(base)
        if len(df):
            df.to_csv(base / "retrained.csv", index=False)
            (base / "user_table.md").write_text(user_table(df))
            chosen += selection(base.name, df)
            tables[base.name] = df
        if len(bl):
            bl.sort_values("peft_params").to_csv(base / "baselines.csv", index=False)
        fronts_png(base, bl, base / "fronts.png")
        curves = clock_curves(base)
        if len(curves):
            curves.to_csv(base / "clock.csv", index=False)
            last = curves[curves["t_s"] == curves["t_s"].max()]
            last.groupby("strategy")["hypervolume"].agg(["mean", "std", "min", "max", "count"]).round(4).to_csv(
                base / "clock_summary.csv")
            clock_png(curves, base / "clock.png", f"{base.name}: strategies at equal time (CPU time of one thread)")
            clock_machines(base / "clock").to_csv(base / "clock_machines.csv", index=False)
        clocked = curves["strategy"].nunique() if len(curves) else 0
        print(f"{base.name}: {len(df)} retrainings, {len(bl)} baselines, {clocked} strategies on the clock")
    if tables:
        (HERE / args.machine / "pooled.md").write_text(pooled(tables))
    if chosen:
        pd.DataFrame(chosen).to_csv(HERE / args.machine / "selection.csv", index=False)
    archived = HERE.parent / "archive" / "search_quality_clock_other_machines"
    if archived.is_dir() and args.machine == "cpu":  # the archive README's paces, from the same function
        clock_machines(archived).to_csv(archived / "clock_machines.csv", index=False)


if __name__ == "__main__":
    main()
