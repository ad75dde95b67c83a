"""Retraining a search's picks as the user's table does: which picks (the best and the knee), what
`autopeft train` is given for one, and reusing a retraining already made (run.py, confirm.py)."""

from __future__ import annotations

import json
from pathlib import Path


def picks(run: Path) -> list[tuple[str, dict[str, str]]]:
    """A finished search's best front member and its knee where it differs."""
    from autopeft.export import rundir

    r = rundir.read_run(run)
    best, knee = rundir.best(r), rundir.knee(r)
    out = [("best", best)]
    if knee["trial"] != best["trial"]:
        out.append(("knee", knee))
    return out


def reuse_retrain(base: Path, out: Path, candidate: str, seed: int) -> bool:
    """Write `out`'s result.json from an earlier retraining of the same candidate with the same seed
    (a pick that is another arm's pick, or a baseline), naming it in `copied_from`: retraining is
    deterministic on this CPU (seed 100's `ia3` scored 0.7658 on test as tweets-0.5's `warm` seed-0 knee
    and as the baseline). True when one was found."""
    from autopeft.methods.candidate import Candidate

    key = Candidate.from_json(candidate).key
    for result in sorted((base / "runs" / "retrain").glob("*/result.json")):
        if result.parent == out:
            continue
        r = json.loads(result.read_text())
        runs = [x for x in r.get("runs", []) if x["seed"] == seed and x["status"] == "ok"]
        if not runs or not r.get("candidate") or Candidate.from_json(r["candidate"]).key != key:
            continue
        one = {"runs": runs, "seeds": [seed], "score": runs[0]["score"], "scores": [runs[0]["score"]], "std": 0.0}
        out.mkdir(parents=True, exist_ok=True)
        (out / "result.json").write_text(json.dumps(r | one | {"copied_from": r.get("copied_from") or
                                                                 result.parent.name}, indent=2))
        return True
    return False


def retrain_target(row: dict[str, str], out: Path) -> list[str]:
    """What `autopeft train` is given for a pick: AdaLoRA's recipe at the pick's target (a user re-runs
    AdaLoRA, not its allocation), else the candidate as a JSON file (`prepare_retrain` writes it)."""
    recipe = json.loads(row.get("recipe") or "null")
    if recipe and recipe.get("method") == "adalora":
        return ["adalora", "--budget", str(recipe["target_params"])]
    return [str(out / "candidate.json")]


def prepare_retrain(base: Path, out: Path, row: dict[str, str], seed: int) -> None:
    """Before a pick's retraining runs (run.py's `Step.prepare`): its candidate file, and its result
    copied from an identical retraining where there is one."""
    if retrain_target(row, out) == [str(out / "candidate.json")]:
        out.mkdir(parents=True, exist_ok=True)
        (out / "candidate.json").write_text(row["candidate"])
        reuse_retrain(base, out, row["candidate"], seed)
