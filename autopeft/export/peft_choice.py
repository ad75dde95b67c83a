"""Which trial `export --format peft` writes: never another format under the peft name.

`--best` / `--knee` take the best (or knee) front member peft can express and say what it gives up
against the overall choice; `--trial N` of a candidate peft cannot hold is refused in one line that
names the nearest trial it can, as is a run with no such member on its front (most users train with
peft and want a `LoraConfig` with a `rank_pattern`, not a hybrid written natively with exit 0).
"""

from __future__ import annotations

import math

from autopeft.errors import UserError
from autopeft.export import rundir


def blockers(row: dict[str, str]) -> list[str]:
    """Why peft cannot express this row's candidate (empty when it can)."""
    from autopeft.export.peft_format import peft_blockers
    from autopeft.methods.candidate import Candidate

    return peft_blockers(Candidate.from_json(row["candidate"]))


def choose(run: rundir.RunDir, row: dict[str, str], how: str, trial: str | None, knee: bool,
           budget: int | None) -> tuple[dict[str, str], str, list[str]]:
    """The row to write for peft, how it was chosen, and lines saying what was given up."""
    why = blockers(row)
    if not why:
        return row, how, []
    if trial is not None:
        raise UserError(f"trial {trial} cannot be written for peft ({why[0]}){_nearest(run, row)}; "
                        "export it with --format native, or search with --exportable peft")
    front = [r for r in rundir.pool(run) if not blockers(r)
             and (budget is None or float(r["peft_params"]) <= budget)]
    if not front:
        raise UserError(f"no front member of {run.path} can be written for peft (trial {row['trial']}, {how}, "
                        f"uses {why[0]}){_nearest(run, row)}; search with --exportable peft, or export with "
                        "--format native")
    pick = rundir.knee_of(front) if knee else rundir.best_of(front)
    gave_up = (f"trial {row['trial']} ({how}) uses {'; '.join(why)}: peft cannot express it. Writing trial "
               f"{pick['trial']} instead, the {'knee' if knee else 'best'} of the front members peft can load: "
               f"score {_f(pick['score'])} against {_f(row['score'])} ({_delta(pick, row)}), "
               f"{int(float(pick['peft_params'])):,} against {int(float(row['peft_params'])):,} PEFT parameters")
    return pick, f"{'knee' if knee else 'best score'} among the front members peft can load", [gave_up]


def _nearest(run: rundir.RunDir, row: dict[str, str]) -> str:
    """'; the nearest trial peft can load is ...' (closest in log-parameters, then the higher score)."""
    size = max(float(row["peft_params"]), 1.0)
    rows = [r for r in rundir.completed_search(run) if not blockers(r)]
    if not rows:
        return "; no trial of this run can be"
    near = min(rows, key=lambda r: (abs(math.log(max(float(r["peft_params"]), 1.0) / size)), -float(r["score"])))
    kept = run.weights_path(near["trial"]).is_file()
    return (f"; the nearest trial peft can load is trial {near['trial']} (score {_f(near['score'])}, "
            f"{int(float(near['peft_params'])):,} PEFT parameters{'' if kept else ', weights not kept'}): "
            f"export --trial {near['trial']} --format peft")


def _f(value: str) -> str:
    return f"{float(value):.4f}"


def _delta(a: dict[str, str], b: dict[str, str]) -> str:
    return f"{float(a['score']) - float(b['score']):+.4f}"
