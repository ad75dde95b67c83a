"""Reading a search's run directory (run.json, trials.csv, front.csv, weights/) and picking a trial.

`--best` is the highest score at or under a budget; `--knee` is the front's knee: the member
farthest from the straight line joining its cheapest and its best member, both axes scaled to
[0, 1] (the Kneedle rule), with PEFT parameters on a log scale because the front spans decades."""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from autopeft.errors import UserError

WEIGHTS_DIR = "weights"


@dataclass
class RunDir:
    """A run directory's plain files."""

    path: Path
    run: dict[str, Any]
    trials: list[dict[str, str]]
    front: list[dict[str, str]] = field(default_factory=list)

    @property
    def model(self) -> str:
        """The backbone the search ran on (`--model`)."""
        model = self.run.get("model") or (self.run.get("args") or {}).get("model")
        if not model:
            raise UserError(f"{self.path / 'run.json'} names no model; was it written by `autopeft search`?")
        return str(model)

    @property
    def task(self) -> str | None:
        """The task's name."""
        task = self.run.get("task") or (self.run.get("args") or {}).get("task")
        return task.get("name") if isinstance(task, dict) else task

    def weights_path(self, trial: str) -> Path:
        """Where `--keep-weights` put a trial's weights (export/weights.py has the format): this run
        directory, or the one of the search sharing the study that trained it (`trained_in`)."""
        name = f"trial-{trial}.safetensors"
        here = self.path / WEIGHTS_DIR / name
        row = next((r for r in self.trials if r.get("trial") == str(trial)), {})
        there = Path(row["trained_in"]) / WEIGHTS_DIR / name if row.get("trained_in") else None
        return there if there is not None and not here.is_file() and there.is_file() else here


def read_run(path: str | Path) -> RunDir:
    """Read a run directory; one clear line when it is not one."""
    path = Path(path)
    if not path.is_dir():
        raise UserError(f"run directory {path} not found; pass the directory `autopeft search` printed")
    if not (path / "trials.csv").is_file():
        raise UserError(f"{path} has no trials.csv; pass a run directory written by `autopeft search`")
    try:
        run = json.loads((path / "run.json").read_text()) if (path / "run.json").is_file() else {}
    except ValueError as exc:
        raise UserError(f"{path / 'run.json'} is not valid JSON ({exc})") from None
    front = _read_csv(path / "front.csv") if (path / "front.csv").is_file() else []
    return RunDir(path=path, run=run, trials=_read_csv(path / "trials.csv"), front=front)


def _read_csv(path: Path) -> list[dict[str, str]]:
    try:
        with path.open(newline="") as f:
            return list(csv.DictReader(f))
    except (OSError, csv.Error, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from None


def _num(row: dict[str, str], key: str) -> float | None:
    try:
        value = float(row.get(key) or "nan")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _value(row: dict[str, str], key: str) -> float:
    """`row[key]` of a completed row, which `_completed` has checked is a finite number."""
    value = _num(row, key)
    if value is None:
        raise UserError(f"trial {row.get('trial', '?')} has no {key}; only completed trials can be picked")
    return value


def _completed(rows: list[dict[str, str]]) -> list[dict[str, str]]:
    """Completed rows with a score, a parameter count and a candidate."""
    done = [r for r in rows if (r.get("state") or "").lower() in ("complete", "completed")]
    return [r for r in done if _num(r, "score") is not None and _num(r, "peft_params") is not None
            and r.get("candidate")]


def find_trial(run: RunDir, trial: str) -> dict[str, str]:
    """The trials.csv row of trial `trial` (completed or not: export only needs its candidate)."""
    for row in run.trials:
        if str(row.get("trial")) == str(trial):
            if not row.get("candidate"):
                raise UserError(f"trial {trial} of {run.path} has no candidate recorded ({row.get('state')})")
            return row
    raise UserError(f"{run.path} has no trial {trial}; see its trials.csv for the trial numbers")


def completed_search(run: RunDir) -> list[dict[str, str]]:
    """Every completed search trial (baselines and proxy scores excluded)."""
    return [r for r in _completed(run.trials) if (r.get("kind") or "search") == "search"]


def pool(run: RunDir) -> list[dict[str, str]]:
    """The rows --best and --knee choose among: the front, else every completed search trial."""
    rows = _completed(run.front)
    if not rows:
        rows = completed_search(run)
    if not rows:
        raise UserError(f"{run.path} has no completed trial yet; export one with --trial N once it finishes")
    return rows


def final_order(score: float, name: object) -> tuple[float, bool]:
    """The final challenge's order, the winner first: the higher dev score, then the search's own pick
    (the row naming no baseline) on a tie. report/tables.challenge_table sorts by it too."""
    return -score, isinstance(name, str) and name != ""


def challenged(run: RunDir) -> list[dict[str, str]]:
    """The final challenge's two trainings (`--challenge`, search/challenge.py), the winner first: the
    higher dev score, the search's own pick on a tie (the baseline's row names it). Empty unless both
    completed: with one missing or failed, the search's own pick stands. (A search resumed with more
    trials may have found a new pick and challenged it too: all trained alike, the best of them wins.)"""
    rows = [r for r in _completed(run.trials) if r.get("kind") == "final"]
    if len(rows) < 2:
        return []
    return sorted(rows, key=lambda r: final_order(_value(r, "score"), r.get("name")))


def best(run: RunDir, budget: int | None = None) -> dict[str, str]:
    """The highest-scoring trial at or under `budget` PEFT parameters (ties: `best_of`); where the
    search challenged its pick with the best baseline at a longer training (`--challenge`), the
    winner's final training (`f<n>`, with that training's weights) when both fit; else, where the
    search confirmed its top trials on more seeds (`--confirm`, search/confirm.py), the best mean
    among those that fit, on the front or not."""
    finals = challenged(run)
    if finals and all(budget is None or _value(r, "peft_params") <= budget for r in finals):
        return finals[0]
    confirmed = [r for r in completed_search(run) if _num(r, "confirmed") is not None]
    for rows, score in ((confirmed, "confirmed"), (pool(run), "score")):
        if budget is not None:
            rows = [r for r in rows if _value(r, "peft_params") <= budget]
        if rows:
            return best_of(rows, score)
    raise UserError(f"no completed trial of {run.path} fits the budget of {budget:,} PEFT parameters")


def best_of(rows: list[dict[str, str]], score: str = "score") -> dict[str, str]:
    """The highest score among `rows`; ties go to fewer parameters, then to the lower dev loss.

    On a front two equal scores have equal sizes (else the larger is dominated), so there the loss
    decides: on MNIST's 200-image dev split LoRA r=1 and (IA)³ (2,048 parameters each) both scored
    0.59 after 100 steps, the first-listed LoRA was picked and retrained 0.055 lower than (IA)³, whose
    dev loss was lower (1.32 against 1.45; experiments/search_quality, `warm_tied` seed 0). Runs
    recorded before `dev_loss` existed keep their first-listed pick."""
    def loss(r: dict[str, str]) -> float:
        value = _num(r, "dev_loss")
        return math.inf if value is None else value

    return max(rows, key=lambda r: (_value(r, score), -_value(r, "peft_params"), -loss(r)))


def knee(run: RunDir) -> dict[str, str]:
    """The front's knee (Kneedle on log-parameters and score); the best member when it has < 3."""
    return knee_of(pool(run))


def knee_of(rows: list[dict[str, str]]) -> dict[str, str]:
    """The knee of `rows` (see `knee`)."""
    rows = sorted(rows, key=lambda r: _value(r, "peft_params"))
    if len(rows) < 3:
        return best_of(rows)
    xs = [math.log10(max(_value(r, "peft_params"), 1.0)) for r in rows]
    ys = [_value(r, "score") for r in rows]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    if x1 == x0 or y1 == y0:
        return best_of(rows)
    nx = [(x - x0) / (x1 - x0) for x in xs]
    ny = [(y - y0) / (y1 - y0) for y in ys]
    # distance above the chord from (nx[0], ny[0]) to (nx[-1], ny[-1])
    ax, ay, bx, by = nx[0], ny[0], nx[-1], ny[-1]
    dist = [((bx - ax) * (y - ay) - (by - ay) * (x - ax)) for x, y in zip(nx, ny, strict=True)]
    return rows[max(range(len(rows)), key=lambda i: dist[i])]
