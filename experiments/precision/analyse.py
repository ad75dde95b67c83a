"""bf16 against fp32 from `run.py`'s results: per candidate, the test and dev scores (mean ± sd over
seeds 100-102), their paired difference and p, and the training time ratio (bf16 / fp32, summed over
the seeds; training steps only, scoring is fp32 in both).

    .venv/bin/python experiments/precision/analyse.py cpu      # writes cpu/precision.csv and prints it
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd
from scipy.stats import ttest_rel

HERE = Path(__file__).resolve().parent


def rows(folder: Path) -> pd.DataFrame:
    out = []
    for path in sorted(folder.glob("*/result.json")):
        name, precision, seed = path.parent.name.rsplit("-", 2)
        r = json.loads(path.read_text())
        out.append({"candidate": name, "precision": precision, "seed": int(seed.removeprefix("s")),
                    "dev": r["score"], "test": r["reports"].get("test", {}).get("score"),
                    "train_s": r.get("train_s"), "wall_s": r["wall_s"], "peft_params": r["peft_params"]})
    return pd.DataFrame(out)


def compare(df: pd.DataFrame) -> pd.DataFrame:
    out = []
    for name, part in df.groupby("candidate"):
        wide = part.pivot(index="seed", columns="precision", values=["test", "dev", "train_s"]).dropna()
        if len(wide) == 0 or "bf16" not in wide["test"] or "fp32" not in wide["test"]:
            continue
        diff = wide["test"]["bf16"] - wide["test"]["fp32"]
        p = ttest_rel(wide["test"]["bf16"], wide["test"]["fp32"]).pvalue if len(wide) > 1 else float("nan")
        out.append({"candidate": name, "seeds": len(wide), "peft_params": int(part["peft_params"].iloc[0]),
                    "test_fp32": f"{wide['test']['fp32'].mean():.4f} ± {wide['test']['fp32'].std():.4f}",
                    "test_bf16": f"{wide['test']['bf16'].mean():.4f} ± {wide['test']['bf16'].std():.4f}",
                    "test_diff": round(float(diff.mean()), 4), "paired_p": round(float(p), 3),
                    "dev_diff": round(float((wide["dev"]["bf16"] - wide["dev"]["fp32"]).mean()), 4),
                    "train_time_ratio": round(float(wide["train_s"]["bf16"].sum() / wide["train_s"]["fp32"].sum()), 3)})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("machine", help="a results folder of run.py (cpu, or a device's name)")
    folder = HERE / ap.parse_args().machine
    table = compare(rows(folder))
    table.to_csv(folder / "precision.csv", index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
