"""A run directory as the report sees it: run.json, the trials and the front, normalised.

Written against DESIGN.md's columns (`trial, state, strategy, fidelity, metric, score,
peft_params, peft_pct, head_params, wall_s, peak_mem_mb, candidate`); optional columns
(`baseline`, `name`, `test_score`, finish times) are used when present, extra ones are kept."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import pandas as pd

from autopeft.errors import UserError
from autopeft.pareto import pareto_front
from autopeft.report.io import read_json, read_table
from autopeft.report.mix import describe, methods_of, mix_label

NUMERIC = ("score", "test_score", "peft_params", "peft_pct", "head_params", "wall_s", "peak_mem_mb")
# trainings that are not trials of their own: supernet proxy scores, --confirm's extra seeds, --challenge's
# final trainings (kept out of the front, the counts of trials and the searched set)
EXTRA_KINDS = ("proxy", "confirm", "final")
_FALSY = {"", "0", "false", "no", "nan", "none", "null"}
# The search's vocabulary (search/record.py): complete, failed, rejected, duplicate, interrupted, running.
_STATE_ALIASES = {"completed": "complete", "fail": "failed", "pruned": "rejected"}
# Metrics whose chance level is 0 rather than the majority class (DESIGN: hypervolume reference).
_ZERO_REF_METRICS = ("mcc", "matthews", "pearson", "spearman", "corr")


@dataclass
class RunData:
    """One run: its metadata (run.json), every trial, and the front the report draws."""

    path: Path
    meta: dict[str, Any]
    trials: pd.DataFrame
    front_file: pd.DataFrame | None = field(default=None, repr=False)

    @cached_property
    def name(self) -> str:
        """The run's label in legends: its strategy, then its directory name."""
        strategy = self.meta.get("strategy") or _mode(self.trials.get("strategy"), exclude={"baseline"})
        return f"{strategy} ({self.path.name})" if strategy else self.path.name

    @cached_property
    def completed(self) -> pd.DataFrame:
        """Trials that finished with a score (baselines included)."""
        t = self.trials
        return t[(t["state"] == "complete") & t["score"].notna() & t["peft_params"].notna()]

    @cached_property
    def baselines(self) -> pd.DataFrame:
        """Completed hand-designed baselines: drawn and tabled beside the front, never in it."""
        return self.completed[self.completed["is_baseline"]]

    @cached_property
    def searched(self) -> pd.DataFrame:
        """Completed standalone trials the strategy proposed (not baselines, not supernet proxies, not
        the extra seeds of `--confirm`, not the final challenge's longer trainings)."""
        c = self.completed
        return c[~c["is_baseline"] & ~c["is_proxy"] & ~c["is_confirm"] & ~c["is_final"]]

    @cached_property
    def proxies(self) -> pd.DataFrame:
        """Supernet proxy scores (low fidelity, inherited weights): never in the front."""
        return self.completed[self.completed["is_proxy"]]

    @cached_property
    def final_fidelity(self) -> str | None:
        """The fidelity the front is taken at: run.json's, else the front file's, else the latest."""
        values = set(self.searched["fidelity"].dropna().astype(str))
        for candidate in (self.meta.get("final_fidelity"), self.meta.get("fidelity")):
            if isinstance(candidate, str) and candidate in values:
                return candidate
        if self.front_file is not None and "fidelity" in self.front_file and len(self.front_file):
            return str(self.front_file["fidelity"].iloc[0])
        return str(self.searched["fidelity"].dropna().iloc[-1]) if values else None

    @cached_property
    def front(self) -> pd.DataFrame:
        """The Pareto front: front.csv as the search wrote it, else computed from the trials."""
        if self.front_file is not None:
            return self.front_file.sort_values(["peft_params", "score"], ascending=[True, False])
        pool = self.searched
        if self.final_fidelity is not None:
            pool = pool[pool["fidelity"].astype(str) == self.final_fidelity]
        return pareto_front(pool)

    @cached_property
    def dims(self) -> Any | None:
        """The backbone's dimensions when its config is on this machine (for per-method parameters)."""
        from autopeft.report.backbone import backbone_dims

        return backbone_dims(self.meta)

    @cached_property
    def backbone_params(self) -> int | None:
        """The backbone's parameter count: run.json's, else implied by the trials' peft_pct."""
        value = _number(self.meta.get("backbone_params"))
        if value:
            return int(value)
        t = self.trials.dropna(subset=["peft_params", "peft_pct"])
        t = t[t["peft_pct"] > 0]
        return int(round((t["peft_params"] * 100 / t["peft_pct"]).median())) if len(t) else None

    @cached_property
    def budget_params(self) -> int | None:
        """The parameter budget as a count, from run.json in whichever form it was written."""
        return _budget_params(self.meta, self.backbone_params)

    @cached_property
    def budget_pct(self) -> float | None:
        """The budget as a percentage of the backbone."""
        if self.budget_params is None or not self.backbone_params:
            return None
        return 100.0 * self.budget_params / self.backbone_params

    @cached_property
    def metric(self) -> str:
        """The task's metric name (`accuracy`, `mcc`, ...)."""
        return str(self.meta.get("metric") or _mode(self.trials.get("metric")) or "score")

    @cached_property
    def ref_score(self) -> float | None:
        """The hypervolume reference score: run.json's, else 0 for correlations, else the lowest seen."""
        for key in ("ref_score", "majority_score", "reference_score"):
            if _number(self.meta.get(key)) is not None:
                return float(self.meta[key])
        ref = self.meta.get("reference_point") or self.meta.get("hypervolume_ref")
        if isinstance(ref, dict) and _number(ref.get("score")) is not None:
            return float(ref["score"])
        if isinstance(ref, list | tuple) and ref and _number(ref[0]) is not None:
            return float(ref[0])
        if any(k in self.metric.lower() for k in _ZERO_REF_METRICS):
            return 0.0
        return float(self.completed["score"].min()) if len(self.completed) else None

    def counts(self) -> dict[str, int]:
        """How many trials are in each state (complete, fail, running, rejected, ...), under `proxy`
        how many supernet proxy scores the record holds, under `confirm` how many extra seeds of
        `--confirm` and under `final` how many trainings of `--challenge` (not trials of their own)."""
        t = self.trials
        out = {str(k): int(v) for k, v in t[~t["is_proxy"] & ~t["is_confirm"] & ~t["is_final"]]["state"]
               .value_counts().items()}
        for extra in EXTRA_KINDS:
            if t[f"is_{extra}"].any():
                out[extra] = int(t[f"is_{extra}"].sum())
        return out


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory (finished, running or resumed); a non-run directory is a clear error."""
    path = Path(run_dir)
    if not path.is_dir():
        raise UserError(f"run directory {run_dir} not found; pass the directory `autopeft search` printed")
    if not (path / "trials.csv").exists() and not (path / "run.json").exists():
        raise UserError(f"{run_dir} has neither trials.csv nor run.json; is it a run directory of autopeft search?")
    meta = read_json(path / "run.json")
    if not meta and not (path / "trials.csv").exists():
        raise UserError(f"{run_dir}/run.json is unreadable and there is no trials.csv: not a run directory of "
                        "autopeft search")
    if not (path / "trials.csv").exists():
        if not isinstance(meta.get("settings"), dict):
            raise UserError(f"{run_dir}/run.json holds no search settings and there is no trials.csv: not a run "
                            "directory of autopeft search")
        raise UserError(f"{run_dir} has no trials.csv yet: its search has not finished a trial; report it once "
                        "one has")
    trials = normalise_trials(read_table(path / "trials.csv"))
    front_file = None
    if (path / "front.csv").exists():
        front_file = normalise_trials(read_table(path / "front.csv"))
    return RunData(path=path, meta=meta, trials=trials, front_file=front_file)


def normalise_trials(df: pd.DataFrame) -> pd.DataFrame:
    """Fill the columns the report needs, coerce types, add `is_baseline`, `label`, `methods`, `mix`."""
    df = df.copy()
    for col in NUMERIC:
        df[col] = pd.to_numeric(df[col], errors="coerce") if col in df else pd.Series(float("nan"), index=df.index)
    for col in ("strategy", "fidelity", "metric", "candidate", "name"):
        if col not in df:
            df[col] = pd.Series(None, index=df.index, dtype=object)
    if "state" in df:
        state = df["state"].astype(str).str.strip().str.lower().str.replace("trialstate.", "", regex=False)
        df["state"] = state.replace(_STATE_ALIASES)
    else:  # no state column: a scored row is complete
        df["state"] = df["score"].notna().map({True: "complete", False: "unknown"})
    if "trial" not in df:
        df["trial"] = range(len(df))
    df = df[df["trial"].notna()].copy()
    # search trials are numbers, baselines `b0`, `b1`...: keep them as text, without pandas' `.0`
    df["trial"] = [str(int(v)) if isinstance(v, float) and v.is_integer() else str(v) for v in df["trial"]]
    df["seq"] = range(len(df))  # the record's order: search trials by number, then the baselines
    df["is_baseline"] = _baseline_flags(df)
    for extra in EXTRA_KINDS:
        df[f"is_{extra}"] = df["kind"].astype(str).str.lower().eq(extra) if "kind" in df else False
    df["label"] = [_label(row) for row in df.to_dict("records")]
    df["methods"] = [methods_of(c) for c in df["candidate"]]
    df["mix"] = [mix_label(m) for m in df["methods"]]
    summary = df["summary"] if "summary" in df else pd.Series(None, index=df.index, dtype=object)
    df["config"] = [s if isinstance(s, str) and s else describe(c)
                    for s, c in zip(summary, df["candidate"], strict=True)]
    return df.reset_index(drop=True)


def _baseline_flags(df: pd.DataFrame) -> pd.Series:
    flags = pd.Series(False, index=df.index)
    if "baseline" in df:
        flags |= ~df["baseline"].astype(str).str.strip().str.lower().isin(_FALSY) & df["baseline"].notna()
    if "kind" in df:
        flags |= df["kind"].astype(str).str.lower().eq("baseline")
    if "strategy" in df:
        flags |= df["strategy"].astype(str).str.lower().eq("baseline")
    return flags


def _label(row: dict[str, Any]) -> str:
    for key in ("name", "baseline"):
        value = row.get(key)
        if value is not None and str(value).strip().lower() not in _FALSY | {"true", "1", "yes"}:
            return str(value)
    return f"#{row['trial']}"


def _budget_params(meta: dict[str, Any], backbone: int | None) -> int | None:
    budget = meta.get("budget")
    if isinstance(budget, dict):  # e.g. {"text": "0.5%", "params": 113566, "pct": 0.5}
        meta = {**meta, **{f"budget_{k}": v for k, v in budget.items()}}
        budget = budget.get("text")
    if _number(meta.get("budget_params")) is not None:
        return int(meta["budget_params"])
    if _number(meta.get("budget_pct")) is not None and backbone:
        return int(float(meta["budget_pct"]) / 100 * backbone)
    if _number(meta.get("budget_peft_params")) is not None:
        return int(meta["budget_peft_params"])
    if budget is None or not backbone:
        return None
    from autopeft.space.budget import parse_budget

    try:
        return parse_budget(budget, backbone)
    except UserError:
        return None


def _number(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        out = float(value)
    except (TypeError, ValueError):
        return None
    return out if out == out else None  # NaN is no number here


def _mode(series: pd.Series | None, exclude: set[str] | frozenset[str] = frozenset()) -> str | None:
    if series is None:
        return None
    values = series.dropna().astype(str)
    values = values[~values.isin(exclude)]
    return str(values.mode().iloc[0]) if len(values) else None
