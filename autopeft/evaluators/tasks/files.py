"""Reading task files (CSV, TSV, JSON, parquet, `save_to_disk` directories) with one-line errors,
and turning a table into a task's standard columns."""

from __future__ import annotations

import csv
import hashlib
import json
from pathlib import Path
from typing import Any

import numpy as np

from autopeft.errors import UserError
from autopeft.evaluators.tasks.spec import CLASSIFICATION, LABEL, REGRESSION, TEXT, TEXT_PAIR

TABLE_SUFFIXES = (".csv", ".tsv", ".json", ".jsonl", ".parquet")
MIN_ROWS = 10


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__


def read_table(path: Path, tsv_names: list[str] | None = None) -> Any:
    """A pandas DataFrame from a CSV/TSV/JSON(L)/parquet file; UserError when unreadable or empty."""
    import pandas as pd

    suffix = path.suffix.lower()
    if not path.is_file():
        raise UserError(f"task file {path} not found; check the path")
    if suffix not in TABLE_SUFFIXES:
        raise UserError(f"cannot read {path}: unknown file type {suffix!r} (use {', '.join(TABLE_SUFFIXES)})")
    try:
        if suffix in (".csv", ".tsv"):
            kwargs: dict[str, Any] = {"sep": "\t" if suffix == ".tsv" else ","}
            if suffix == ".tsv":  # GLUE TSVs hold unbalanced quotes inside sentences
                kwargs.update(quoting=csv.QUOTE_NONE, on_bad_lines="skip", keep_default_na=False)
            if tsv_names is not None:
                kwargs.update(header=None, names=tsv_names)
            try:
                df = pd.read_csv(path, **kwargs)
            except UnicodeDecodeError:  # many hand-made CSVs are latin-1
                df = pd.read_csv(path, encoding="latin-1", **kwargs)
        elif suffix == ".parquet":
            df = pd.read_parquet(path)
        else:
            lines = suffix == ".jsonl" or path.read_text(errors="replace").lstrip()[:1] != "["
            df = pd.read_json(path, lines=lines)
    except pd.errors.EmptyDataError:
        raise UserError(f"task file {path} is empty; give a file with a header and rows") from None
    except Exception as exc:  # parser errors of every reader: one line, no traceback
        kind = suffix.lstrip(".").upper()
        raise UserError(f"cannot read {path} as {kind}: {_first_line(exc)}; check the file's format") from None
    if len(df) == 0:
        raise UserError(f"task file {path} has no rows; give a file with a header and rows")
    return df


def file_fingerprint(paths: list[Path], *extra: Any) -> str:
    """A content identity from file paths, sizes and modification times (no reading)."""
    parts = [[str(p.resolve()), p.stat().st_size, p.stat().st_mtime_ns] for p in sorted(paths)]
    return hashlib.sha1(json.dumps([parts, list(extra)], default=str).encode()).hexdigest()[:16]


def dir_files(path: Path) -> list[Path]:
    """All files below a directory (for fingerprints of save_to_disk / image folders)."""
    return [p for p in path.rglob("*") if p.is_file()]


def require_columns(columns: list[str], needed: list[str], where: str, hint: str) -> None:
    """UserError naming the first missing column and the columns there are."""
    for col in needed:
        if col not in columns:
            raise UserError(f"{where} has no column {col!r} (columns: {', '.join(map(str, columns))}); {hint}")


def infer_labels(values: Any, where: str, label_col: str) -> tuple[str, tuple[str, ...]]:
    """(problem type, label names) from a label column: floats that are not whole numbers regress."""
    arr = np.asarray(values)
    if arr.dtype.kind == "f" and not np.all(np.equal(np.mod(arr, 1), 0)):
        if np.unique(arr).size < 2:
            raise UserError(f"{where}: label column {label_col!r} is constant; a task needs varying labels")
        return REGRESSION, ()
    if arr.dtype.kind == "f":
        arr = arr.astype(np.int64)
    names = sorted({str(v) for v in arr.tolist()}, key=_label_order)
    if len(names) < 2:
        raise UserError(
            f"{where}: label column {label_col!r} has a single class ({names[0]!r}); "
            "a classifier needs at least two classes"
        )
    return CLASSIFICATION, tuple(names)


def _label_order(name: str) -> tuple[int, float | str]:
    # numeric labels in numeric order ("2" before "10"), others alphabetically
    try:
        return (0, float(name))
    except ValueError:
        return (1, name)


def to_text_dataset(
    df: Any, text_cols: list[str], label_col: str, problem_type: str, label_names: tuple[str, ...]
) -> Any:
    """A datasets.Dataset with standard columns from a table; rows with a missing field dropped."""
    import datasets

    df = df[text_cols + [label_col]].dropna()
    if problem_type == REGRESSION:
        labels = df[label_col].astype(float).tolist()
        features = datasets.Value("float32")
    else:
        index = {name: i for i, name in enumerate(label_names)}
        raw = df[label_col]
        if raw.dtype.kind == "f":
            raw = raw.astype(np.int64)
        labels = [index.get(str(v), -1) for v in raw.tolist()]
        features = datasets.Value("int64")
    keep = [i for i, v in enumerate(labels) if problem_type == REGRESSION or v >= 0]
    texts = df[text_cols[0]].astype(str).tolist()
    data = {TEXT: [texts[i] for i in keep], LABEL: [labels[i] for i in keep]}
    feats = {TEXT: datasets.Value("string"), LABEL: features}
    if len(text_cols) > 1:
        pairs = df[text_cols[1]].astype(str).tolist()
        data[TEXT_PAIR] = [pairs[i] for i in keep]
        feats[TEXT_PAIR] = datasets.Value("string")
    return datasets.Dataset.from_dict(data, features=datasets.Features(feats))
