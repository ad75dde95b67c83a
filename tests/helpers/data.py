"""Task files the tests write themselves: sentiment sentences, CSVs, image folders."""

from __future__ import annotations

import csv
import random
from pathlib import Path

POSITIVE = ["good", "great", "nice", "fine", "happy"]
NEGATIVE = ["bad", "awful", "poor", "sad", "ugly"]
FILLER = ["the", "a", "movie", "was", "very", "really", "food", "day", "it", "so"]
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def sentiment_rows(n: int, seed: int = 0) -> list[tuple[str, int]]:
    """Sentences whose label is given by a sentiment word among fillers."""
    rng = random.Random(seed)
    rows = []
    for _ in range(n):
        label = rng.randint(0, 1)
        words = rng.sample(FILLER, rng.randint(2, 8)) + [rng.choice(POSITIVE if label else NEGATIVE)]
        rng.shuffle(words)
        rows.append((" ".join(words), label))
    return rows


def write_csv(path: Path, header: list[str], rows: list[tuple]) -> Path:
    """A CSV file with a header row."""
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_image_folder(root: Path, per_class: int = 60) -> Path:
    """Two classes of 32x32 RGB images: bright squares top-left vs bottom-right."""
    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(0)
    for label in ("left", "right"):
        folder = root / label
        folder.mkdir(parents=True)
        for i in range(per_class):
            img = rng.integers(0, 60, size=(32, 32, 3), dtype=np.uint8)
            if label == "left":
                img[2:14, 2:14] = 250
            else:
                img[18:30, 18:30] = 250
            Image.fromarray(img).save(folder / f"{i}.png")
    return root


def completed_trials(run_dir: Path) -> int:
    """Complete rows in a (possibly half-written) trials.csv: what a test polls while a search runs."""
    import pandas as pd

    path = run_dir / "trials.csv"
    if not path.exists():
        return 0
    try:
        return int((pd.read_csv(path)["state"] == "complete").sum())
    except (pd.errors.EmptyDataError, KeyError):
        return 0
