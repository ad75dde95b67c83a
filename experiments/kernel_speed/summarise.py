"""The README's tables from steps.csv: per candidate and path, the median over rounds of the step time
over the same round's frozen-backbone limit (fp32, and the path's own precision).

    .venv/bin/python experiments/kernel_speed/summarise.py experiments/kernel_speed/cpu
"""

from __future__ import annotations

import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "cpu")
    times: dict[str, dict[str, dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for row in csv.DictReader((folder / "steps.csv").open()):
        times[row["candidate"]][row["path"]][int(row["round"])] = float(row["s_per_step"])
    print("| candidate | path | s/step (median) | x fp32 limit | x limit, same precision |")
    print("|---|---|---:|---:|---:|")
    for cand, paths in times.items():
        for path, by_round in paths.items():
            limit = paths["limit+bf16" if path.endswith("+bf16") else "limit"]
            rounds = [r for r in by_round if r in limit and r in paths["limit"]]
            fp32 = statistics.median(by_round[r] / paths["limit"][r] for r in rounds)
            own = statistics.median(by_round[r] / limit[r] for r in rounds)
            print(f"| {cand} | {path} | {statistics.median(by_round.values()):.3f} | {fp32:.3f} | {own:.3f} |")
    search = {c: p for c, p in times.items() if c.startswith("search trial")}
    if search:  # trials per hour of training steps: `quick` is 100 steps a trial
        print("\n| default search's 10 trials | sum of s/step | training-step trials per hour | x plain |")
        print("|---|---:|---:|---:|")
        total = {path: sum(statistics.median(p[path].values()) for p in search.values())
                 for path in ("plain", "fused", "fused+bf16")}
        for path, t in total.items():
            per_hour = 3600 / (100 * t / len(search))
            print(f"| {path} | {t:.2f} | {per_hour:.1f} | {total['plain'] / t:.3f} |")


if __name__ == "__main__":
    main()
