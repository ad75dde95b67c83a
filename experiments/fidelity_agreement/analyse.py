"""Each rung's agreement with the final rung, from `run.py`'s rungs.csv: Spearman rho, the partial
rho given log PEFT parameters (what the rung says beyond the count), and how much of the final
top third (by score) the rung's top third holds (what a promotion by score alone keeps).

    .venv/bin/python experiments/fidelity_agreement/analyse.py cpu/tweet_sentiment-0.5-standard
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import rankdata, spearmanr

HERE = Path(__file__).resolve().parent


def partial_spearman(x: np.ndarray, y: np.ndarray, z: np.ndarray) -> float:
    """Spearman's rho of x and y with z partialled out (Pearson on ranks, first-order partial)."""
    rx, ry, rz = (rankdata(v) for v in (x, y, z))
    r = np.corrcoef([rx, ry, rz])
    rxy, rxz, ryz = r[0, 1], r[0, 2], r[1, 2]
    denom = math.sqrt(max(1e-12, (1 - rxz**2) * (1 - ryz**2)))
    return float((rxy - rxz * ryz) / denom)


def agreement(rows: pd.DataFrame) -> pd.DataFrame:
    """One row per rung: n, rho, partial rho | log params, top-third overlap with the final rung."""
    last = rows["rung"].max()
    final = rows[rows["rung"] == last].set_index("candidate_index")
    out = []
    for rung, part in rows.groupby("rung"):
        part = part.set_index("candidate_index").loc[lambda d: d.index.isin(final.index)]
        x, y = part["score"].to_numpy(float), final.loc[part.index, "score"].to_numpy(float)
        params = np.log(part["peft_params"].to_numpy(float))
        k = max(1, len(part) // 3)
        top_rung = set(part["score"].nlargest(k).index)
        top_final = set(final.loc[part.index, "score"].nlargest(k).index)
        out.append({"rung": int(rung), "stop": int(part["stop"].iloc[0]), "candidates": len(part),
                    "spearman": round(float(spearmanr(x, y).statistic), 3),
                    "partial_spearman_given_params": round(partial_spearman(x, y, params), 3),
                    "spearman_params_vs_final": round(float(spearmanr(params, y).statistic), 3),
                    "top_third_overlap": round(len(top_rung & top_final) / k, 3),
                    "mean_score": round(float(np.mean(x)), 4), "wall_s_mean": round(float(part["wall_s"].mean()), 1)})
    return pd.DataFrame(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("folder", help="a results folder of run.py, relative to this study")
    args = ap.parse_args()
    folder = HERE / args.folder
    table = agreement(pd.read_csv(folder / "rungs.csv"))
    table.to_csv(folder / "agreement.csv", index=False)
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
