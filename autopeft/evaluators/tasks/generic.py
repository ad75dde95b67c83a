"""Tasks from a `datasets` DatasetDict: a `save_to_disk` directory, an image folder
(one sub-folder per class), or a hub dataset id when online. Text or images, found by column type."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from autopeft.errors import UserError
from autopeft.evaluators.hub import hub_reachable
from autopeft.evaluators.tasks.files import dir_files, file_fingerprint, infer_labels
from autopeft.evaluators.tasks.spec import (
    CLASSIFICATION,
    IMAGE,
    LABEL,
    REGRESSION,
    TEXT,
    TEXT_PAIR,
    TaskData,
    TaskSpec,
)
from autopeft.evaluators.tasks.splits import split_official, split_unofficial

FORMAT = "generic-v1"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp", ".tif", ".tiff")
TEXT_DEFAULTS = (["text"], ["sentence"], ["sentence1", "sentence2"], ["premise", "hypothesis"])


def is_dataset_dir(path: Path) -> bool:
    """A directory written by `save_to_disk` (a DatasetDict or one Dataset)."""
    return (path / "dataset_dict.json").is_file() or (path / "state.json").is_file()


def is_image_folder(path: Path) -> bool:
    """A directory with images somewhere below it (the `imagefolder` layout)."""
    return any(p.suffix.lower() in IMAGE_SUFFIXES for p in path.rglob("*") if p.is_file())


def dir_fingerprint(path: Path, text_cols: list[str] | None, label_col: str | None) -> str:
    """Identity of a task directory from its files' sizes and times."""
    return file_fingerprint(dir_files(path), FORMAT, text_cols, label_col)


def _image_column(ds: Any) -> str | None:
    import datasets

    for name, feature in ds.features.items():
        if isinstance(feature, datasets.Image):
            return name
    return None


def _standardise(ds: Any, where: str, text_cols: list[str] | None, label_col: str | None) -> tuple[Any, TaskSpec]:
    import datasets

    columns = ds.column_names
    label = label_col or next((c for c in (LABEL, "labels") if c in columns), None)
    if label is None or label not in columns:
        raise UserError(f"{where} has no label column {label_col or LABEL!r} (columns: {', '.join(columns)}); "
                        "pass --label-col COL")
    image = _image_column(ds)
    feature = ds.features[label]
    if isinstance(feature, datasets.ClassLabel):
        problem, names = CLASSIFICATION, tuple(feature.names)
        if len(names) < 2:
            raise UserError(f"{where}: label column {label!r} has a single class; a classifier needs two or more")
        ids = list(ds[label])
    else:
        problem, names = infer_labels(ds[label], where, label)
        index = {n: i for i, n in enumerate(names)}
        ids = [float(v) for v in ds[label]] if problem == REGRESSION else [index[str(v)] for v in ds[label]]
    if image is not None:
        out = ds.select_columns([image])
        out = (out if image == IMAGE else out.rename_column(image, IMAGE)).add_column(LABEL, ids)
        kind, pair = "image", False
    else:
        cols = text_cols or next((c for c in TEXT_DEFAULTS if all(x in columns for x in c)), None)
        if cols is None:
            raise UserError(f"{where} has no text column named text or sentence (columns: {', '.join(columns)}); "
                            "pass --text-cols COL[,COL2]")
        missing = [c for c in cols if c not in columns]
        if missing:
            raise UserError(f"{where} has no column {missing[0]!r} (columns: {', '.join(columns)}); pass --text-cols")
        data = {TEXT: [str(t) for t in ds[cols[0]]], LABEL: ids}
        if len(cols) > 1:
            data[TEXT_PAIR] = [str(t) for t in ds[cols[1]]]
        out = datasets.Dataset.from_dict(data)
        kind, pair = "text", len(cols) > 1
    spec = TaskSpec(
        name=where, kind=kind, metric="pearson_spearman" if problem == REGRESSION else "accuracy",
        label_names=names, problem_type=problem, pair=pair, description=f"{kind} task from {where}",
    )
    return out, spec


def from_dataset_dict(where: str, dd: Any, text_cols: list[str] | None, label_col: str | None,
                      fingerprint: str) -> TaskData:
    """train → train + dev; `test` (or `validation`) reports; with no such split, one is held out."""
    import datasets

    if isinstance(dd, datasets.Dataset):
        dd = datasets.DatasetDict({"train": dd})
    if "train" not in dd:
        raise UserError(f"{where} has no 'train' split (splits: {', '.join(dd)}); name the training split train")
    train, spec = _standardise(dd["train"], where, text_cols, label_col)
    report = next((s for s in ("test", "validation") if s in dd), None)
    if report is None:
        splits = split_unofficial(train, spec)
    else:
        reported, _ = _standardise(dd[report], where, text_cols, label_col)
        if spec.problem_type == CLASSIFICATION and min(reported[LABEL]) < 0:
            splits = split_unofficial(train, spec)  # unlabelled test split (like GLUE's): hold one out
        else:
            train, dev = split_official(train, spec)
            splits = {"train": train, "dev": dev, "test": reported}
    return TaskData(spec, splits, fingerprint)


def load_dir(path: Path, text_cols: list[str] | None = None, label_col: str | None = None) -> TaskData:
    """A task from a save_to_disk directory or an image folder."""
    import datasets

    name = path.name
    try:
        if is_dataset_dir(path):
            dd = datasets.load_from_disk(str(path))
        elif is_image_folder(path):
            from autopeft.evaluators.cache_dir import cache_root

            datasets.disable_progress_bars()
            dd = datasets.load_dataset("imagefolder", data_dir=str(path), cache_dir=str(cache_root() / "datasets"))
        else:
            raise UserError(f"{path} is neither a save_to_disk directory nor an image folder; "
                            "pass a CSV/JSON/parquet file, a save_to_disk directory, or class sub-folders of images")
    except UserError:
        raise
    except Exception as exc:
        raise UserError(f"cannot load the dataset in {path}: {str(exc).splitlines()[0]}") from None
    return from_dataset_dict(name, dd, text_cols, label_col, dir_fingerprint(path, text_cols, label_col))


def load_hub(repo: str, text_cols: list[str] | None = None, label_col: str | None = None) -> TaskData:
    """A task from a hub dataset id (online only)."""
    if not hub_reachable():
        raise UserError(f"the Hugging Face hub cannot be reached to download {repo}; save the dataset with "
                        "save_to_disk elsewhere and pass its directory as --task DIR")
    import datasets

    from autopeft.evaluators.cache_dir import cache_root

    try:
        dd = datasets.load_dataset(repo, cache_dir=str(cache_root() / "datasets"))
    except Exception as exc:
        raise UserError(f"cannot load the hub dataset {repo}: {str(exc).splitlines()[0]}") from None
    fp = file_fingerprint([], FORMAT, repo, {s: d._fingerprint for s, d in dd.items()}, text_cols, label_col)
    return from_dataset_dict(repo, dd, text_cols, label_col, fp)
