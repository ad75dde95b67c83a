"""The tables of experiments/quantized/README.md, from the CSVs run.py wrote (prints markdown):

    .venv/bin/python experiments/quantized/analyse.py > experiments/quantized/summary.md
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent
ORDER = ["fp32", "8bit", "4bit"]


def _table(df: pd.DataFrame) -> str:
    head = "| " + " | ".join(df.columns) + " |"
    rule = "|" + "|".join("---" if i == 0 else "---:" for i in range(len(df.columns))) + "|"
    rows = ["| " + " | ".join(str(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join([head, rule, *rows])


def minilm() -> str:
    scores = pd.read_csv(HERE / "scores.csv")
    steps = pd.read_csv(HERE / "steps.csv")
    ratio = steps.groupby(["candidate", "quantize"])["ratio_to_fp32"].agg(["median", "min", "max"])
    rows = []
    for cand in scores["candidate"].unique():
        for q in ORDER:
            s = scores[(scores["candidate"] == cand) & (scores["quantize"] == q)].iloc[0]
            r = ratio.loc[(cand, q)]
            rows.append({"candidate": cand, "backbone": q, "dev accuracy": f"{s['score']:.3f}",
                         "dev loss": f"{s['dev_loss']:.3f}", "weights MiB": s["footprint_mb"],
                         "step time / fp32 (median, range)": f"{r['median']:.3f} ({r['min']:.3f}-{r['max']:.3f})",
                         "process peak RSS MiB": s["process_maxrss_mb"]})
    return _table(pd.DataFrame(rows))


def llama() -> str:
    df = pd.read_csv(HERE / "llama.csv")
    rows = []
    for malloc in ("default", "mmap128k"):
        for q in ORDER:
            d = df[(df["malloc"] == malloc) & (df["quantize"] == q)]
            if not len(d):
                continue
            peak = d["train_peak_rss_mb"]
            spread = f"{peak.median():.0f} ({peak.min():.0f}-{peak.max():.0f})"
            rows.append({"malloc": malloc, "backbone": q, "weights MiB": d["footprint_mb"].iloc[0],
                         "training peak RSS MiB (median, range)": spread,
                         "training anon MiB": f"{d['train_peak_anon_mb'].median():.0f}",
                         "loading peak RSS MiB": f"{d['load_peak_rss_mb'].median():.0f}",
                         "loading anon MiB": f"{d['load_peak_anon_mb'].median():.0f}",
                         "step s": f"{d['step_s_median'].median():.2f}", "runs": len(d)})
    return _table(pd.DataFrame(rows))


def main() -> None:
    print("## MiniLM on tweet_sentiment (scores.csv, steps.csv)\n")
    print(minilm())
    print("\n## LLaMA-style, 342M parameters (llama.csv; medians over the runs, the range of the training peak)\n")
    print(llama())


if __name__ == "__main__":
    main()
