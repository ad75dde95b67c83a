"""Run directories in the format `autopeft search` writes (DESIGN.md), with trained weights to export."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import torch

from autopeft.backbones import load_task_model
from autopeft.export.weights import save_trial_weights
from autopeft.methods.attach import apply

LABELS = ["negative", "neutral", "positive"]
COLUMNS = ["trial", "state", "kind", "name", "strategy", "fidelity", "metric", "score", "test_score",
           "peft_params", "peft_pct", "head_params", "train_params", "wall_s", "peak_mem_mb", "hypervolume",
           "front", "reason", "summary", "candidate"]


def layers(*per_layer: dict) -> dict:
    """A candidate dict for the 2-layer test backbone."""
    return {"layers": list(per_layer)}


LORA = layers({"lora": {"q": 4, "v": 2}}, {"lora": {"q": 2, "ffn_out": 3}})
HYBRID = {"layers": [{"lora": {"q": 4}, "serial_adapter": {"ffn": 4}, "bitfit": {"ln": 1}},
                     {"prefix": {"length": 3}, "ia3": {"k": 1, "ffn": 1}}],
          "globals": {"prefix": {"reparam": True, "reparam_hidden": 8}}}


def trained(backbone: str, candidate: dict, seed: int):
    """A task model with the candidate attached and its tensors moved off their init (as after training)."""
    torch.manual_seed(seed)
    model = load_task_model(backbone, len(LABELS))
    peft = apply(model, candidate)
    with torch.no_grad():
        for _, p in [*(x for ps in peft.groups.values() for x in ps), *peft.head_parameters()]:
            p.add_(torch.randn_like(p) * 0.2)
    model.eval()
    return model, peft


def make_run(root: Path, backbone: str, trials: list[tuple[dict, float]], keep: bool = True) -> Path:
    """A run directory with run.json, trials.csv, front.csv and (with `keep`) weights/trial-N.safetensors."""
    run = root / "run"
    run.mkdir()
    rows = []
    for number, (candidate, score) in enumerate(trials):
        model, peft = trained(backbone, candidate, seed=number)
        if keep:
            save_trial_weights(run / "weights" / f"trial-{number}.safetensors", peft,
                               {"backbone": backbone, "task": "toy", "id2label": LABELS, "trial": number})
        rows.append({"trial": number, "state": "complete", "kind": "search", "strategy": "random",
                     "fidelity": "smoke", "metric": "accuracy", "score": score, "peft_params": peft.peft_params,
                     "head_params": peft.head_params, "candidate": peft.candidate.to_json()})
        peft.detach()
    front = [r for r in rows if not any(o["score"] >= r["score"] and o["peft_params"] <= r["peft_params"]
                                        and o is not r for o in rows)]
    for r in rows:
        r["front"] = r in front
    for name, table in (("trials.csv", rows), ("front.csv", front)):
        with (run / name).open("w", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=COLUMNS)
            writer.writeheader()
            writer.writerows(table)
    (run / "run.json").write_text(json.dumps({"model": backbone, "task": "toy", "space": "full"}))
    return run


def restored(backbone: str, run: Path, trial: int):
    """Our own model with a kept trial's weights (what every export must reproduce)."""
    from autopeft.export.restore import attach_tensors
    from autopeft.export.weights import load_trial_weights

    tw = load_trial_weights(run / "weights" / f"trial-{trial}.safetensors")
    model = load_task_model(backbone, len(LABELS))
    model.eval()
    attach_tensors(model, tw.candidate, tw.tensors)
    return model
