"""Encoding once per (task data, tokenizer or image geometry, max length), cached on disk as
safetensors files under $AUTOPEFT_CACHE (default ~/.cache/autopeft)."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from autopeft.evaluators.cache_dir import cache_key, cache_root
from autopeft.evaluators.encoded import EncodedSplit, EncodedTask
from autopeft.evaluators.tasks import TaskRef, TaskSpec


def _spec_from(data: dict[str, Any]) -> TaskSpec:
    data = dict(data)
    for key in ("label_names", "report_splits"):
        data[key] = tuple(data[key])
    return TaskSpec(**data)


def load_cached(key: str) -> tuple[TaskSpec, dict[str, EncodedSplit], dict[str, Any]] | None:
    """The cached encoding under `key`, or None when absent or unreadable."""
    from safetensors.numpy import load_file

    folder = cache_root() / "encoded" / key
    try:
        meta = json.loads((folder / "task.json").read_text())
        splits = {s: EncodedSplit(**load_file(str(folder / f"{s}.safetensors"))) for s in meta["splits"]}
        return _spec_from(meta["spec"]), splits, meta.get("info", {})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def store(key: str, spec: TaskSpec, splits: dict[str, EncodedSplit], info: dict[str, Any]) -> None:
    """Write an encoding atomically (a temp folder renamed), so concurrent workers never see half of one."""
    from safetensors.numpy import save_file

    root = cache_root() / "encoded"
    root.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=root, prefix=".tmp-"))
    try:
        for name, split in splits.items():
            arrays = {k: np.ascontiguousarray(v) for k, v in split.tensors().items()}
            save_file(arrays, str(tmp / f"{name}.safetensors"))
        meta = {"spec": dataclasses.asdict(spec), "splits": list(splits), "info": info}
        (tmp / "task.json").write_text(json.dumps(meta, indent=1))
        try:
            tmp.rename(root / key)
        except OSError:  # another worker stored it first: theirs is identical
            pass
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def tokenizer_fingerprint(tokenizer: Any) -> str:
    """Identity of a tokenizer from its full serialisation (fast tokenizers) or its vocabulary."""
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else json.dumps(sorted(tokenizer.get_vocab().items()))
    extra = [type(tokenizer).__name__, tokenizer.model_max_length, getattr(tokenizer, "padding_side", None)]
    return hashlib.sha256((text + json.dumps(extra, default=str)).encode()).hexdigest()[:16]


def encode_text(ds: Any, spec: TaskSpec, tokenizer: Any, max_length: int) -> EncodedSplit:
    """Tokenize a split (truncated to `max_length`, unpadded) into flat ids + offsets."""
    from autopeft.evaluators.tasks.spec import LABEL, TEXT, TEXT_PAIR

    ids, types, lengths = [], [], []
    texts = list(ds[TEXT])
    pairs = list(ds[TEXT_PAIR]) if spec.pair else None
    for start in range(0, len(texts), 8192):  # chunks keep the Python lists of a big task small
        chunk = texts[start : start + 8192]
        pair = pairs[start : start + 8192] if pairs is not None else None
        enc = tokenizer(chunk, pair, truncation=True, max_length=max_length)
        for i, seq in enumerate(enc["input_ids"]):
            ids.append(np.asarray(seq, dtype=np.int32))
            lengths.append(len(seq))
            if "token_type_ids" in enc:
                types.append(np.asarray(enc["token_type_ids"][i], dtype=np.int8))
    offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
    dtype = np.float32 if spec.problem_type == "regression" else np.int64
    flat = np.concatenate(ids) if ids else np.zeros(0, dtype=np.int32)
    type_ids = np.concatenate(types) if types else None
    return EncodedSplit(np.asarray(ds[LABEL], dtype=dtype), flat, offsets, type_ids)


def encode_images(ds: Any, size: int, channels: int) -> EncodedSplit:
    """uint8 (N, C, size, size) pixels from arrays or PIL images, resized and channel-converted."""
    from PIL import Image

    from autopeft.evaluators.tasks.spec import IMAGE, LABEL

    column = ds.with_format("numpy")[IMAGE] if _is_array(ds) else ds[IMAGE]
    out = np.empty((len(ds), channels, size, size), dtype=np.uint8)
    for i, item in enumerate(column):
        img = item if isinstance(item, Image.Image) else Image.fromarray(np.asarray(item, dtype=np.uint8))
        img = img.convert("L" if channels == 1 else "RGB")
        if img.size != (size, size):
            img = img.resize((size, size), Image.Resampling.BILINEAR)
        arr = np.asarray(img)
        out[i] = arr[None] if channels == 1 else arr.transpose(2, 0, 1)
    return EncodedSplit(np.asarray(ds[LABEL], dtype=np.int64), pixels=out)


def _is_array(ds: Any) -> bool:
    from datasets import Array2D, Array3D

    from autopeft.evaluators.tasks.spec import IMAGE

    return isinstance(ds.features[IMAGE], Array2D | Array3D)


def encode_task(ref: TaskRef, model_path: str, config: dict[str, Any], max_length: int,
                tokenizer: Any = None) -> EncodedTask:
    """The task encoded for this backbone, from the disk cache when there, else encoded and stored."""
    from autopeft.backbones import is_vision, load_tokenizer

    vision = is_vision(config)
    if vision:
        size, channels = int(config.get("image_size", 224)), int(config.get("num_channels", 3))
        geometry: Any = ["image", size, channels]
    else:
        tokenizer = tokenizer or load_tokenizer(model_path)
        geometry = ["text", tokenizer_fingerprint(tokenizer), max_length]
    key = cache_key(ref.fingerprint(), geometry)
    cached = load_cached(key)
    if cached is None:
        data = ref.load()
        if (data.spec.kind == "image") != vision:
            from autopeft.errors import UserError

            want = "an image" if vision else "a text"
            raise UserError(f"task {ref.name} is a {data.spec.kind} task but the model needs {want} task; "
                            "pick a matching --model or --task")
        if vision:
            splits = {s: encode_images(ds, size, channels) for s, ds in data.splits.items()}
        else:
            splits = {s: encode_text(ds, data.spec, tokenizer, max_length) for s, ds in data.splits.items()}
        store(key, data.spec, splits, data.info)
        spec, info = data.spec, data.info
    else:
        spec, splits, info = cached
    task = EncodedTask(spec, splits, info=dict(info, cache_key=key))
    if vision:
        task.pixel_mean, task.pixel_std = _pixel_norm(model_path, channels)
    else:
        task.pad_id = pad_token_id(tokenizer)
    return task


def pad_token_id(tokenizer: Any) -> int:
    """The id batches are padded with: the tokenizer's pad token, else its EOS (decoders), else 0."""
    for value in (tokenizer.pad_token_id, tokenizer.eos_token_id):
        if value is not None:
            return int(value)
    return 0


def _pixel_norm(model_path: str, channels: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Normalisation from the checkpoint's preprocessor_config.json, else 0.5 / 0.5."""
    path = Path(model_path) / "preprocessor_config.json"
    mean, std = [0.5] * channels, [0.5] * channels
    if path.is_file():
        conf = json.loads(path.read_text())
        mean, std = conf.get("image_mean", mean), conf.get("image_std", std)
    return tuple(float(m) for m in mean), tuple(float(s) for s in std)
