"""Pretrain a small ViT on Fashion-MNIST (minutes on 2 CPU cores) and save it as a transformers
checkpoint (safetensors) in autopeft/embedded/vit_fmnist, where the package ships it: the vision
backbone `--model vit-fmnist` loads.

    .venv/bin/python experiments/vit_pretrain/pretrain.py --epochs 4

No pretrained ViT can be had offline, so this is the project's own. Recipe: 28x28 grey input,
7x7 patches (16 tokens + [CLS]), hidden 128, 4 layers, 4 heads, MLP 256 (~0.53M parameters,
2 MB); AdamW lr 1e-3, weight decay 0.05, batch 128, 5% warm-up then linear decay, random
horizontal flips and shifts of up to 2 pixels. Results go to results.json.
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from transformers import ViTConfig, ViTForImageClassification

from autopeft.evaluators.tasks.images import FASHION_LABELS, fashion_arrays

HERE = Path(__file__).resolve().parent
# the package data folder `--model vit-fmnist` loads (autopeft.backbones.VIT_FMNIST_DIR)
OUT = HERE.parents[1] / "autopeft" / "embedded" / "vit_fmnist"
MEAN, STD = 0.5, 0.5


def config() -> ViTConfig:
    """The backbone's architecture."""
    return ViTConfig(image_size=28, patch_size=7, num_channels=1, hidden_size=128, num_hidden_layers=4,
                     num_attention_heads=4, intermediate_size=256, hidden_dropout_prob=0.0,
                     attention_probs_dropout_prob=0.0, num_labels=len(FASHION_LABELS),
                     id2label=dict(enumerate(FASHION_LABELS)), label2id={n: i for i, n in enumerate(FASHION_LABELS)})


def to_tensor(images: np.ndarray) -> torch.Tensor:
    """uint8 (N, 28, 28) -> normalised float (N, 1, 28, 28)."""
    return (torch.from_numpy(images).float().div(255.0).unsqueeze(1) - MEAN) / STD


def augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """Random horizontal flips and shifts of up to 2 pixels (zero padded)."""
    flip = torch.rand(x.shape[0], generator=gen) < 0.5
    x = torch.where(flip.view(-1, 1, 1, 1), x.flip(-1), x)
    padded = torch.nn.functional.pad(x, (2, 2, 2, 2), value=-MEAN / STD)
    dx, dy = (int(v) for v in torch.randint(0, 5, (2,), generator=gen))
    return padded[:, :, dy : dy + 28, dx : dx + 28]


@torch.inference_mode()
def accuracy(model: ViTForImageClassification, images: np.ndarray, labels: np.ndarray) -> float:
    """Top-1 accuracy on a set."""
    model.eval()
    correct = 0
    for i in range(0, len(images), 500):
        logits = model(pixel_values=to_tensor(images[i : i + 500])).logits
        correct += int((logits.argmax(-1).numpy() == labels[i : i + 500]).sum())
    model.train()
    return correct / len(images)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=float, default=4.0)
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    data = fashion_arrays()
    train_x, train_y = data["train"]
    test_x, test_y = data["test"]
    model = ViTForImageClassification(config())
    model.train()
    steps = math.ceil(args.epochs * len(train_x) / args.batch)
    warmup = max(1, steps // 20)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.05)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup else max(0.0, (steps - s) / (steps - warmup)))
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    order = np.array([], dtype=np.int64)
    for step in range(steps):
        if len(order) < args.batch:
            order = np.concatenate([order, rng.permutation(len(train_x))])
        index, order = order[: args.batch], order[args.batch :]
        x = augment(to_tensor(train_x[index]), gen)
        loss = model(pixel_values=x, labels=torch.from_numpy(train_y[index].astype(np.int64))).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
        opt.zero_grad(set_to_none=True)
        if step % 100 == 0 or step == steps - 1:
            print(f"step {step + 1}/{steps} loss {loss.item():.3f} {time.perf_counter() - start:.0f} s", flush=True)
    train_s = time.perf_counter() - start
    test_acc = accuracy(model, test_x, test_y)
    print(f"Fashion-MNIST test accuracy {test_acc:.4f} after {train_s:.0f} s")
    # keep the backbone only (what AutoModel loads); a task model adds its own head
    model.vit.save_pretrained(args.out, safe_serialization=True)
    (args.out / "preprocessor_config.json").write_text(json.dumps(
        {"image_processor_type": "ViTImageProcessor", "do_resize": False, "do_rescale": True,
         "rescale_factor": 1 / 255, "do_normalize": True, "image_mean": [MEAN], "image_std": [STD],
         "size": {"height": 28, "width": 28}}, indent=2))
    results = {"fashion_mnist_test_accuracy": round(test_acc, 4), "train_seconds": round(train_s, 1),
               "steps": steps, "epochs": args.epochs, "batch": args.batch, "lr": args.lr, "threads": args.threads,
               "parameters": sum(p.numel() for p in model.vit.parameters()), "seed": args.seed}
    (HERE / "results.json").write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
