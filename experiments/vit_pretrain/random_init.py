"""The control for the transfer numbers: `vit-fmnist`'s architecture with random weights (seed 0),
saved as a checkpoint directory that `--model DIR` loads.

    .venv/bin/python experiments/vit_pretrain/random_init.py /tmp/vit-random
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import torch
from transformers import ViTConfig, ViTModel

from autopeft.backbones import VIT_FMNIST, resolve_model_path


def main(out: str, seed: int = 0) -> None:
    src = Path(resolve_model_path(VIT_FMNIST))
    torch.manual_seed(seed)
    model = ViTModel(ViTConfig.from_pretrained(src), add_pooling_layer=False)
    model.save_pretrained(out)
    shutil.copy(src / "preprocessor_config.json", Path(out) / "preprocessor_config.json")
    print(f"random-init {sum(p.numel() for p in model.parameters()):,} parameters -> {out}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
