"""The report's tables (front, baselines, all trials) as display DataFrames, and `front.md`."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from autopeft.export.rundir import final_order
from autopeft.report.io import atomic_write_bytes
from autopeft.report.run import RunData
from autopeft.report.style import fmt_pct

# Right-aligned in front.md and in the front `autopeft search` prints.
NUMERIC_COLUMNS = frozenset({"trial", "score", "test score", "PEFT params", "% of backbone", "head params",
                             "wall (s)"})


def _display(df: pd.DataFrame, first: list[tuple[str, str]]) -> pd.DataFrame:
    """Human columns in a fixed order; `test_score` only when the search recorded one."""
    out = pd.DataFrame(index=df.index)
    for header, col in first:
        out[header] = df[col]
    out["configuration"] = df["config"]
    out["score"] = df["score"].map(_num)
    if df["test_score"].notna().any():
        out["test score"] = df["test_score"].map(_num)
    out["PEFT params"] = df["peft_params"].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    out["% of backbone"] = df["peft_pct"].map(lambda v: "" if pd.isna(v) else fmt_pct(v))
    out["head params"] = df["head_params"].map(lambda v: "" if pd.isna(v) else f"{int(v):,}")
    out["fidelity"] = df["fidelity"].fillna("")
    out["wall (s)"] = df["wall_s"].map(lambda v: "" if pd.isna(v) else f"{v:.0f}")
    return out.reset_index(drop=True)


def front_table(run: RunData) -> pd.DataFrame:
    """The front, fewest parameters first."""
    return _display(run.front.sort_values("peft_params"), [("trial", "trial"), ("methods", "mix")])


def baselines_table(run: RunData) -> pd.DataFrame:
    """The hand-designed baselines that completed, fewest parameters first."""
    return _display(run.baselines.sort_values("peft_params"), [("baseline", "label"), ("trial", "trial")])


def challenge_table(run: RunData) -> pd.DataFrame:
    """`--challenge`'s two final trainings (search/challenge.py), the one `export --best` takes first:
    the higher dev score, the search's pick on a tie (export/rundir.final_order); empty unless both
    completed."""
    finals = run.completed[run.completed["is_final"]]
    if len(finals) < 2:
        return pd.DataFrame()
    keys = [final_order(float(score), name) for score, name in zip(finals["score"], finals["name"], strict=True)]
    finals = finals.iloc[sorted(range(len(finals)), key=keys.__getitem__)]
    finals = finals.assign(_name=[n if isinstance(n, str) else "" for n in finals["name"]])  # the baseline's
    out = _display(finals, [("trial", "trial")])
    picked = [str(c).removesuffix(".0") for c in finals["challenges"]]
    out.insert(1, "contender", [f"the baseline {n}" if n else f"the search's pick (trial {c})"
                                for n, c in zip(finals["_name"], picked, strict=True)])
    return out


def challenge_note(final: pd.DataFrame) -> str:
    """The sentence above `challenge_table` in front.md and report.html."""
    return (f"The search's pick and the best baseline it trained, both trained again at {final['fidelity'].iloc[0]} "
            "with the search's seed; `autopeft export --best` takes the first, with that training's weights.")


def trials_table(run: RunData) -> pd.DataFrame:
    """Every trial in order, with its state and, for failures, the reason."""
    t = run.trials.sort_values("seq")
    out = _display(t, [("trial", "trial"), ("state", "state"), ("strategy", "strategy"), ("methods", "mix")])
    reason = next((c for c in ("reason", "error", "fail_reason") if c in t), None)
    if reason:
        out["reason"] = t[reason].fillna("").astype(str).to_numpy()
    return out


def adalora_pairs(run: RunData) -> pd.DataFrame:
    """Each AdaLoRA trial beside plain LoRA trained on the allocation it found (`--strategy adalora`):
    the score difference is what AdaLoRA's schedule adds over its allocation alone."""
    t = run.trials
    if "recipe" not in t or "allocation_of" not in t:
        return pd.DataFrame()
    done = t[(t["state"] == "complete") & t["score"].notna()]
    ada = done[done["recipe"].fillna("").astype(str).str.contains("adalora")]
    plain = done[pd.to_numeric(done["allocation_of"], errors="coerce").notna()]
    rows = []
    for r in ada.itertuples():
        twin = plain[pd.to_numeric(plain["allocation_of"]) == int(r.trial)]
        if not len(twin):
            continue
        p = twin.iloc[0]
        rows.append({"AdaLoRA trial": r.trial, "plain LoRA trial": p["trial"], "PEFT params": f"{int(r.peft_params):,}",
                     "AdaLoRA score": _num(r.score), "plain LoRA score": _num(p["score"]),
                     "AdaLoRA - plain": f"{float(r.score) - float(p['score']):+.4f}"})
    return pd.DataFrame(rows)


def to_markdown(df: pd.DataFrame) -> str:
    """A GitHub-flavoured markdown table (no tabulate dependency)."""
    def cell(value: object) -> str:
        return "" if value is None or (isinstance(value, float) and pd.isna(value)) else str(value).replace("|", r"\|")

    lines = ["| " + " | ".join(df.columns) + " |",
             "|" + "|".join("---:" if c in NUMERIC_COLUMNS else "---" for c in df.columns) + "|"]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines)


def write_front_md(run: RunData, path: Path) -> Path:
    """`front.md`: the run in one line, the front as a table, the baselines beside it."""
    meta = run.meta
    budget = f"budget {fmt_pct(run.budget_pct)}" if run.budget_pct else "no budget recorded"
    parts = [f"# Pareto front: {meta.get('task', 'task')} on {meta.get('model', 'model')}", "",
             f"Strategy {meta.get('strategy') or run.name}, {budget}, metric {run.metric}; "
             f"{len(run.front)} members out of {len(run.completed)} completed trials." + _precision(meta), ""]
    if meta.get("command"):
        parts += [f"`{meta['command']}`", ""]
    parts += [to_markdown(front_table(run)) if len(run.front) else "_No completed trial yet._", ""]
    if len(run.baselines):
        parts += ["## Hand-designed baselines", "", to_markdown(baselines_table(run)), ""]
    final = challenge_table(run)
    if len(final):
        parts += ["## Final challenge", "", challenge_note(final), "", to_markdown(final), ""]
    pairs = adalora_pairs(run)
    if len(pairs):
        parts += ["## AdaLoRA: its allocation or its schedule?", "",
                  "Each AdaLoRA run beside plain LoRA trained from scratch on the ranks AdaLoRA kept: a positive "
                  "difference is what AdaLoRA's schedule adds beyond where it put the ranks.", "",
                  to_markdown(pairs), ""]
    return atomic_write_bytes(path, "\n".join(parts).encode())


def _precision(meta: dict) -> str:
    from autopeft.report.backbone import precision_line

    line = precision_line(meta)
    return f" The {line}." if line else ""


def _num(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{float(value):.4f}"
