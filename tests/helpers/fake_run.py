"""Small synthetic run directories in the layout DESIGN.md gives (run.json, trials.csv, front.csv)."""

from __future__ import annotations

import json
import math
import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from autopeft.methods.candidate import Candidate

HIDDEN, LAYERS, BACKBONE = 384, 6, 22_713_216
BUDGET = 113_566  # 0.5% of MiniLM
_SLOT_CHOICES = {
    "lora": (("q", "k", "v", "o", "ffn_in", "ffn_out"), (1, 2, 4, 8, 16)),
    "serial_adapter": (("attn", "ffn"), (2, 4, 8, 16, 32)),
    "parallel_adapter": (("attn", "ffn"), (2, 4, 8, 16, 32)),
    "prefix": (("length",), (1, 5, 10, 20, 30)),
    "bitfit": (("q", "v", "ffn_in", "ffn_out", "ln"), (1,)),
    "prompt": (("insert",), (1,)),
    "ia3": (("k", "v", "ffn"), (1,)),
}
_GAIN = {"lora": 0.10, "serial_adapter": 0.09, "parallel_adapter": 0.11, "prefix": 0.05, "bitfit": 0.02,
         "prompt": 0.03, "ia3": 0.04}
COLUMNS = ["trial", "state", "strategy", "fidelity", "metric", "score", "peft_params", "peft_pct",
           "head_params", "wall_s", "peak_mem_mb", "candidate", "baseline", "name", "started", "finished",
           "reason"]


def fake_params(candidate: Candidate) -> int:
    """A stand-in parameter formula, close enough to the real one for plots."""
    total = 0
    for layer in candidate.layers:
        for method, sizes in layer.items():
            for slot, size in sizes.items():
                if method == "lora":
                    total += 2 * HIDDEN * size
                elif method.endswith("adapter"):
                    total += 2 * HIDDEN * size + size + HIDDEN
                elif method == "prefix":
                    total += 2 * HIDDEN * size
                elif method == "prompt":
                    total += 10 * HIDDEN
                else:
                    total += HIDDEN * (4 if slot.startswith("ffn") else 1)
    return total


def random_candidate(rng: random.Random) -> Candidate:
    """A random hybrid: one to three methods, each on a random run of layers."""
    methods = rng.sample(sorted(_SLOT_CHOICES), k=rng.choice((1, 1, 2, 2, 3)))
    layers: list[dict] = [{} for _ in range(LAYERS)]
    for method in methods:
        slots, sizes = _SLOT_CHOICES[method]
        chosen = rng.sample(slots, k=rng.randint(1, len(slots)))
        first = rng.randint(0, LAYERS - 1)
        for i in range(first, rng.randint(first, LAYERS - 1) + 1):
            layers[i][method] = {s: rng.choice(sizes) for s in chosen}
    return Candidate(layers)


def _score(candidate: Candidate, params: int, rng: random.Random, fidelity: str) -> float:
    gain = sum(_GAIN[m] for m in candidate.methods) / len(candidate.methods)
    base = 0.64 + gain * (1 - math.exp(-params / 40_000)) + rng.gauss(0, 0.01)
    return round(base - (0.05 if fidelity == "smoke" else 0.0), 4)


def brute_front(df: pd.DataFrame) -> pd.DataFrame:
    """Completed non-baseline final-fidelity rows no other such row dominates (written independently)."""
    pool = df[(df["state"] == "COMPLETE") & (df["baseline"].fillna("") == "") & (df["fidelity"] == "quick")]
    keep = []
    for i, a in pool.iterrows():
        dominated = any(
            (b["score"] >= a["score"] and b["peft_params"] <= a["peft_params"])
            and (b["score"] > a["score"] or b["peft_params"] < a["peft_params"] or j < i)
            for j, b in pool.iterrows() if j != i
        )
        if not dominated:
            keep.append(i)
    return pool.loc[keep].sort_values("peft_params")


def write_run(path: Path, n: int = 40, seed: int = 0, running: bool = False, resumed: bool = False,
              with_front: bool = True, strategy: str = "mobo", search_style: bool = False) -> Path:
    """Write a run directory with `n` searched trials, three baselines, a rejection and a failure."""
    rng = random.Random(seed)
    path.mkdir(parents=True, exist_ok=True)
    start = datetime(2025, 1, 1, 12, 0, tzinfo=UTC)
    rows, clock = [], start

    def add(state: str, cand: Candidate | None, fidelity: str = "quick", baseline: str = "", reason: str = ""):
        nonlocal clock
        params = fake_params(cand) if cand else None
        wall = rng.uniform(20, 60) if state in ("COMPLETE", "FAIL") else None
        began = clock
        if wall:
            clock += timedelta(seconds=wall)
        score = _score(cand, params, rng, fidelity) if state == "COMPLETE" else None
        rows.append({
            "trial": len(rows), "state": state, "strategy": "baseline" if baseline else strategy,
            "fidelity": fidelity, "metric": "accuracy", "score": score, "peft_params": params,
            "peft_pct": round(100 * params / BACKBONE, 6) if params else None, "head_params": 1155,
            "wall_s": wall, "peak_mem_mb": 310.5 if wall else None,
            "candidate": cand.to_json() if cand else None, "baseline": baseline, "name": baseline,
            "started": began.isoformat(), "finished": clock.isoformat() if wall else None, "reason": reason,
        })

    for name, layer in (("lora@r8", {"lora": {"q": 8, "v": 8}}), ("pfeiffer@rf64", {"serial_adapter": {"ffn": 6}}),
                        ("bitfit", {"bitfit": {"q": 1, "v": 1, "ffn_in": 1, "ffn_out": 1}})):
        add("COMPLETE", Candidate([layer] * LAYERS), baseline=name)
    for i in range(n):
        cand = random_candidate(rng)
        if fake_params(cand) > BUDGET:
            add("REJECTED", cand)
            continue
        fidelity = "smoke" if i < n // 4 else "quick"
        if i == n // 2:
            add("FAIL", cand, fidelity, reason="loss is NaN")
        elif resumed and i == n // 3:
            add("FAIL", cand, fidelity, reason="interrupted; run again on resume")
            clock += timedelta(hours=1)  # the pause before --resume
            add("COMPLETE", cand, fidelity)
        else:
            add("COMPLETE", cand, fidelity)
    if running:
        for _ in range(2):
            add("RUNNING", random_candidate(rng))
    trials = pd.DataFrame(rows, columns=COLUMNS)
    front = brute_front(trials)
    if search_style:  # as autopeft/search/tables.py writes it: `kind`, baselines as b0.., lower-case states
        trials, front = _search_style(trials), _search_style(front)
    text = trials.to_csv(index=False)
    if running:  # caught mid-rewrite: the last row is half written
        text += text.splitlines()[-1][: 40]
    (path / "trials.csv").write_text(text)
    if with_front:
        front.to_csv(path / "front.csv", index=False)
    meta = {"command": f"autopeft search --budget 0.5% --task tweet_sentiment --strategy {strategy}",
            "task": "tweet_sentiment", "model": "minilm", "space": "full", "strategy": strategy, "seed": seed,
            "budget": "0.5%", "budget_params": BUDGET, "backbone_params": BACKBONE, "fidelity": "quick",
            "metric": "accuracy", "majority_score": 0.441, "versions": {"autopeft": "0.1.0"}}
    (path / "run.json").write_text(json.dumps(meta, indent=2))
    return path


def _search_style(df: pd.DataFrame) -> pd.DataFrame:
    df = df.copy()
    is_base = df["baseline"] != ""
    df["kind"] = is_base.map({True: "baseline", False: "search"})
    df["trial"] = [f"b{i}" if b else str(t) for i, (t, b) in enumerate(zip(df["trial"], is_base, strict=True))]
    df["state"] = df["state"].str.lower().replace({"fail": "failed"})
    return df.drop(columns=["baseline", "started", "finished"])
