"""Did the searches try the candidates the headroom study found, and how did they rank them?

`headroom.py` retrained the best candidates any search had scored at `standard`. This looks the other
way: for each of them, every search trial of the config that trained the same candidate (by its key),
at which fidelity, its dev score there, its rank among its search's trials at that fidelity, and what
the config's best baseline scored in the same search (where the search trained it). A candidate a
search tried but ranked low was lost to selection; one no search tried, to discovery.

Writes `<machine>/where_found.csv` and `.md`:

    .venv/bin/python experiments/search_quality/where_found.py --machine cpu
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from autopeft.methods.candidate import Candidate

HERE = Path(__file__).resolve().parent
BEST_BASELINE = {"tweets-0.05": "ia3@t2", "tweets-0.5": "lora-all@r2", "mnist-0.5": "ia3"}


def baseline_key(config_dir: Path, name: str) -> str | None:
    """The candidate key of a baseline as the config trained it (runs/baselines/<name>/result.json)."""
    import json

    path = config_dir / "runs" / "baselines" / name / "result.json"
    if not path.is_file():
        return None
    text = json.loads(path.read_text()).get("candidate")
    return Candidate.from_json(text).key if text else None


def rows_for(config_dir: Path) -> list[dict]:
    found = {p.parent.name: Candidate.from_json(p.read_text()).key
             for p in sorted((config_dir / "headroom").glob("found-*/candidate.json"))}
    base_key = baseline_key(config_dir, BEST_BASELINE[config_dir.name])
    rows = []
    for trials in sorted((config_dir / "runs").glob("*-s*/trials.csv")):
        t = pd.read_csv(trials)
        t = t[(t["state"] == "complete") & (t["kind"] == "search") & t["candidate"].notna()].copy()
        if t.empty:
            continue
        t["key"] = [Candidate.from_json(c).key for c in t["candidate"]]
        for row in t.itertuples():
            for name, key in found.items():
                if row.key != key:
                    continue
                same = t[t["fidelity"] == row.fidelity]
                base = same[same["key"] == base_key]
                rows.append({"config": config_dir.name, "candidate": name, "peft_params": row.peft_params,
                             "search": trials.parent.name, "trial": row.trial, "fidelity": row.fidelity,
                             "dev_score": row.score, "rank": int((same["score"] > row.score).sum()) + 1,
                             "of": len(same), "best_baseline_dev": base["score"].max() if len(base) else None})
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--machine", default="cpu")
    args = ap.parse_args()
    base = HERE / args.machine
    rows = [r for d in sorted(base.iterdir()) if (d / "headroom").is_dir() for r in rows_for(d)]
    df = pd.DataFrame(rows)
    df.to_csv(base / "where_found.csv", index=False)
    lines = ["# Where the searches met the headroom study's candidates (where_found.py)", "",
             "| config | candidate | PEFT params | search | trial | fidelity | dev score | rank in its search "
             "| the best baseline's dev score there |", "|---|---|---:|---|---:|---|---:|---:|---:|"]
    for r in df.itertuples():
        baseline = "" if pd.isna(r.best_baseline_dev) else f"{r.best_baseline_dev:.4f}"
        lines.append(f"| {r.config} | {r.candidate} | {r.peft_params:,} | {r.search} | {r.trial} | {r.fidelity} | "
                     f"{r.dev_score:.4f} | {r.rank} of {r.of} | {baseline} |")
    (base / "where_found.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
