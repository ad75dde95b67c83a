"""The plain files of a run directory: trials.csv and front.csv (from the study), run.json."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import optuna
import pandas as pd

from autopeft.errors import UserError
from autopeft.pareto import non_dominated
from autopeft.search.confirm import confirmed
from autopeft.search.record import reason_of, status_of
from autopeft.search.sharing import owner_dir

COLUMNS = ["trial", "state", "kind", "name", "strategy", "fidelity", "metric", "score", "dev_loss", "test_score",
           "peft_params", "peft_pct", "head_params", "train_params", "wall_s", "peak_mem_mb", "hypervolume",
           "front", "confirmed", "seeds", "reason", "summary", "candidate", "recipe", "origin", "allocation_of", "rung",
           "cost", "continues", "confirms", "challenges", "seed", "note", "trained_in"]


def _dev_loss(user_attrs: dict[str, Any]) -> float | None:
    """The mean loss on the split `score` was measured on: it breaks ties between equal scores, which a
    small dev split makes common (200 MNIST images score in steps of 0.005; export/rundir.best_of)."""
    loss = json.loads(user_attrs.get("metrics") or "{}").get("loss")
    return float(loss) if loss is not None else None


def _row(t: optuna.trial.FrozenTrial, kind: str, extra: dict[str, Any], here: Path | None) -> dict[str, Any]:
    u = t.user_attrs
    # a trial another search sharing the study trained: its weights and checkpoint are kept there
    owner = owner_dir(t)
    trained_in = str(owner) if owner is not None and here is not None and owner != here.resolve() else ""
    label = {"search": t.number, "baseline": f"b{t.number}", "proxy": f"p{t.number}", "confirm": f"c{t.number}",
             "final": f"f{t.number}"}[kind]
    return {"trial": label, "state": status_of(t), "kind": kind,
            "name": u.get("name", ""), "strategy": u.get("strategy", ""), "fidelity": u.get("fidelity", ""),
            "metric": u.get("metric"), "score": u.get("score"), "dev_loss": _dev_loss(u),
            "test_score": extra.get(f"test:{t.number}"),
            "peft_params": u.get("peft_params"), "peft_pct": u.get("peft_pct"), "head_params": u.get("head_params"),
            "train_params": u.get("train_params"), "wall_s": u.get("wall_s"), "peak_mem_mb": u.get("peak_mem_mb"),
            "hypervolume": extra.get(f"hv:{t.number}"), "front": False, "reason": reason_of(t),
            "summary": u.get("summary", ""), "candidate": u.get("candidate", ""), "recipe": u.get("recipe", ""),
            "origin": u.get("origin", ""), "allocation_of": u.get("allocation_of"), "rung": u.get("rung"),
            "cost": u.get("cost"), "continues": u.get("continues"), "confirms": u.get("confirms"),
            "challenges": u.get("challenges"), "seed": u.get("seed"), "note": u.get("note"),
            "trained_in": trained_in}


def trials_frame(study: optuna.Study, baselines: optuna.Study | None, fidelity: str,
                 proxies: optuna.Study | None = None, run_dir: str | Path | None = None,
                 confirms: optuna.Study | None = None, finals: optuna.Study | None = None) -> pd.DataFrame:
    """Every trial of the search (then the baselines, the supernet proxy scores, the confirmations'
    extra seeds and the final challenge's trainings, search/challenge.py), with `front` marking the
    Pareto front (standalone search trials only), `confirmed` a confirmed trial's mean over its seeds
    (search/confirm.py); `trained_in` names the run directory of a trial that another search sharing
    the study trained (empty for `run_dir`'s own)."""
    here = Path(run_dir) if run_dir is not None else None
    # per-trial values added after a trial finished (hypervolume, test score) are study attributes
    extra = study.user_attrs
    rows = [_row(t, "search", extra, here) for t in study.get_trials(deepcopy=False)]
    if baselines is not None:
        bextra = baselines.user_attrs
        rows += [_row(t, "baseline", bextra, here) for t in baselines.get_trials(deepcopy=False)]
    if proxies is not None:
        rows += [_row(t, "proxy", {}, here) for t in proxies.get_trials(deepcopy=False)]
    if confirms is not None:
        rows += [_row(t, "confirm", {}, here) for t in confirms.get_trials(deepcopy=False)]
    if finals is not None:
        rows += [_row(t, "final", finals.user_attrs, here) for t in finals.get_trials(deepcopy=False)]
    df = pd.DataFrame(rows, columns=[c for c in COLUMNS if c not in ("confirmed", "seeds")])
    df["front"] = front_mask(df, fidelity)
    return confirmed(df)[COLUMNS]


def front_mask(df: pd.DataFrame, fidelity: str) -> pd.Series:
    """The DESIGN front: completed, non-baseline trials at the final fidelity, non-dominated."""
    mask = pd.Series(False, index=df.index)
    pool = df[(df["kind"] == "search") & (df["state"] == "complete") & (df["fidelity"] == fidelity)]
    if len(pool):
        nd = non_dominated(pool["score"].astype(float), pool["peft_params"].astype(float))
        mask.loc[pool.index[nd]] = True
    return mask


def front_frame(df: pd.DataFrame) -> pd.DataFrame:
    """The front's rows, smallest first."""
    return df[df["front"]].sort_values(["peft_params", "score"]).reset_index(drop=True)


def _atomic_write(path: Path, text: str) -> None:
    # a kill between write and rename leaves the previous file intact
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_tables(run_dir: str | Path, df: pd.DataFrame) -> None:
    """trials.csv and front.csv."""
    run_dir = Path(run_dir)
    _atomic_write(run_dir / "trials.csv", df.to_csv(index=False))
    _atomic_write(run_dir / "front.csv", front_frame(df).to_csv(index=False))


def write_run_json(run_dir: str | Path, info: dict[str, Any]) -> None:
    """run.json: the run's settings and outcome."""
    _atomic_write(Path(run_dir) / "run.json", json.dumps(info, indent=2, default=str) + "\n")


def read_run_json(run_dir: str | Path) -> dict[str, Any]:
    """run.json of an existing run."""
    path = Path(run_dir) / "run.json"
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise UserError(f"{path} cannot be read ({exc}); it is not the run.json autopeft search writes") from None
    if not isinstance(data, dict):
        raise UserError(f"{path} is not the run.json autopeft search writes")
    return data
