"""Custom text tasks from one CSV/TSV/JSON/parquet file (`--task file.csv --text-cols a,b --label-col y`)."""

from __future__ import annotations

from pathlib import Path

from autopeft.errors import UserError
from autopeft.evaluators.tasks.files import (
    MIN_ROWS,
    file_fingerprint,
    infer_labels,
    read_table,
    require_columns,
    to_text_dataset,
)
from autopeft.evaluators.tasks.spec import REGRESSION, TaskData, TaskSpec
from autopeft.evaluators.tasks.splits import dedupe, split_unofficial

DEFAULT_TEXT_COLS = (["text"], ["sentence"], ["sentence1", "sentence2"], ["premise", "hypothesis"])
FORMAT = "custom-v1"  # bump when the loading or splitting changes, to invalidate caches


def _pick_text_cols(columns: list[str], path: Path) -> list[str]:
    for cols in DEFAULT_TEXT_COLS:
        if all(c in columns for c in cols):
            return list(cols)
    raise UserError(
        f"{path}: no text column named text or sentence (columns: {', '.join(map(str, columns))}); "
        "pass --text-cols COL or --text-cols COL1,COL2"
    )


def custom_fingerprint(path: Path, text_cols: list[str] | None, label_col: str) -> str:
    """Identity of a custom task's data without reading it."""
    if not path.is_file():
        raise UserError(f"task file {path} not found; check the path")
    return file_fingerprint([path], FORMAT, text_cols, label_col)


def load_custom(path: Path, text_cols: list[str] | None = None, label_col: str = "label") -> TaskData:
    """A task from one file: deduplicated, conflicting labels dropped, then train/dev/test held out."""
    df = read_table(path)
    columns = [str(c) for c in df.columns]
    df.columns = columns
    cols = text_cols or _pick_text_cols(columns, path)
    if not 1 <= len(cols) <= 2:
        raise UserError(f"--text-cols takes one or two columns, got {len(cols)}: {','.join(cols)}")
    require_columns(columns, cols + [label_col], str(path), "pass --text-cols COL[,COL2] and --label-col COL")
    df = df.dropna(subset=cols + [label_col])
    if len(df) < MIN_ROWS:
        raise UserError(f"{path} has {len(df)} labelled rows; a task needs at least {MIN_ROWS}")
    problem_type, names = infer_labels(df[label_col].to_numpy(), str(path), label_col)
    metric = "pearson_spearman" if problem_type == REGRESSION else "accuracy"
    spec = TaskSpec(
        name=path.stem,
        kind="text",
        metric=metric,
        label_names=names,
        problem_type=problem_type,
        pair=len(cols) == 2,
        report_splits=("test",),
        description=f"custom {'regression' if problem_type == REGRESSION else 'classification'} from {path.name}",
    )
    ds, stats = dedupe(to_text_dataset(df, cols, label_col, problem_type, names), spec)
    if len(ds) < MIN_ROWS:
        raise UserError(f"{path} has {len(ds)} distinct labelled rows; a task needs at least {MIN_ROWS}")
    return TaskData(spec, split_unofficial(ds, spec), custom_fingerprint(path, text_cols, label_col), stats)
