"""bf16 against fp32 from `run.py`'s results: per candidate, the test and dev scores (mean ± sd over
seeds 100-102), their paired difference and p, and the training time ratio (bf16 / fp32, summed over
the seeds; training steps only, scoring is fp32 in both). Then bf16 on eager attention (`bf16eager`)
against fp32 and against bf16 on SDPA, scores only (it ran in another session, on another load).

    .venv/bin/python experiments/precision/analyse.py cpu      # writes cpu/precision.csv and
                                                               # cpu/precision_eager.csv, prints both
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


def compare(df: pd.DataFrame, arm: str = "bf16", against: str = "fp32", times: bool = True) -> pd.DataFrame:
    """`arm` against `against` per candidate, paired by seed (and the time ratio when `times`)."""
    out = []
    for name, part in df.groupby("candidate"):
        part = part[part["precision"].isin([arm, against])]
        wide = part.pivot(index="seed", columns="precision", values=["test", "dev", "train_s"]).dropna()
        if len(wide) == 0 or arm not in wide["test"] or against not in wide["test"]:
            continue
        diff = wide["test"][arm] - wide["test"][against]
        p = ttest_rel(wide["test"][arm], wide["test"][against]).pvalue if len(wide) > 1 else float("nan")
        row = {"candidate": name, "seeds": len(wide), "peft_params": int(part["peft_params"].iloc[0]),
               f"test_{against}": f"{wide['test'][against].mean():.4f} ± {wide['test'][against].std():.4f}",
               f"test_{arm}": f"{wide['test'][arm].mean():.4f} ± {wide['test'][arm].std():.4f}",
               "test_diff": round(float(diff.mean()), 4), "paired_p": round(float(p), 3),
               "dev_diff": round(float((wide["dev"][arm] - wide["dev"][against]).mean()), 4)}
        if times:
            row["train_time_ratio"] = round(float(wide["train_s"][arm].sum() / wide["train_s"][against].sum()), 3)
        out.append(row)
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("machine", help="a results folder of run.py (cpu, or a device's name)")
    folder = HERE / ap.parse_args().machine
    df = rows(folder)
    table = compare(df)
    table.to_csv(folder / "precision.csv", index=False)
    print(table.to_string(index=False))
    if (df["precision"] == "bf16eager").any():
        eager = pd.concat([compare(df, "bf16eager", against, times=False)
                           .rename(columns={f"test_{against}": "test_against"}).assign(against=against)
                           for against in ("fp32", "bf16")])
        eager.to_csv(folder / "precision_eager.csv", index=False)
        print(eager.to_string(index=False))


if __name__ == "__main__":
    main()
