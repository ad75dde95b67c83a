"""GLUE: the nine tasks with their official metrics, from the hub when online or from `--data-dir`
(GLUE TSV files as distributed, a `save_to_disk` copy, or CSV/JSON/parquet files per split)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autopeft.errors import UserError
from autopeft.evaluators.hub import hub_reachable
from autopeft.evaluators.tasks.files import TABLE_SUFFIXES, dir_files, file_fingerprint, read_table
from autopeft.evaluators.tasks.spec import (
    CLASSIFICATION,
    LABEL,
    REGRESSION,
    TEXT,
    TEXT_PAIR,
    TaskData,
    TaskSpec,
)
from autopeft.evaluators.tasks.splits import split_official

HUB_ID = "nyu-mll/glue"
FORMAT = "glue-v1"


@dataclass(frozen=True)
class GlueTask:
    """One GLUE task: its spec, the hub's column names and the GLUE TSV layout."""

    spec: TaskSpec
    columns: tuple[str, ...]  # text columns as the hub names them
    tsv_dir: str  # folder name in the GLUE distribution
    tsv_columns: tuple[str, ...]  # text columns in the TSV files
    tsv_label: str
    tsv_names: tuple[str, ...] | None = None  # for headerless TSVs (CoLA)
    train_size: int = 0  # official sizes, for `autopeft tasks` without loading
    validation_sizes: tuple[int, ...] = ()


def _spec(name: str, metric: str, labels: tuple[str, ...], pair: bool, desc: str, mnli: bool = False) -> TaskSpec:
    return TaskSpec(
        name=name,
        kind="text",
        metric=metric,
        label_names=labels,
        problem_type=REGRESSION if not labels else CLASSIFICATION,
        pair=pair,
        report_splits=("validation_matched", "validation_mismatched") if mnli else ("validation",),
        description=desc,
    )


_NLI2 = ("entailment", "not_entailment")
GLUE: dict[str, GlueTask] = {
    t.spec.name: t
    for t in (
        GlueTask(_spec("cola", "mcc", ("unacceptable", "acceptable"), False, "CoLA: grammatical acceptability"),
                 ("sentence",), "CoLA", ("sentence",), "label", ("source", "label", "original_label", "sentence"),
                 8551, (1043,)),
        GlueTask(_spec("sst2", "accuracy", ("negative", "positive"), False, "SST-2: movie review sentiment"),
                 ("sentence",), "SST-2", ("sentence",), "label", None, 67349, (872,)),
        GlueTask(_spec("mrpc", "f1_accuracy", ("not_equivalent", "equivalent"), True, "MRPC: paraphrase"),
                 ("sentence1", "sentence2"), "MRPC", ("#1 String", "#2 String"), "Quality", None, 3668, (408,)),
        GlueTask(_spec("qqp", "f1_accuracy", ("not_duplicate", "duplicate"), True, "QQP: duplicate questions"),
                 ("question1", "question2"), "QQP", ("question1", "question2"), "is_duplicate", None,
                 363846, (40430,)),
        GlueTask(_spec("stsb", "pearson_spearman", (), True, "STS-B: sentence similarity (regression)"),
                 ("sentence1", "sentence2"), "STS-B", ("sentence1", "sentence2"), "score", None, 5749, (1500,)),
        GlueTask(_spec("mnli", "accuracy", ("entailment", "neutral", "contradiction"), True,
                       "MNLI: entailment (validation matched + mismatched)", mnli=True),
                 ("premise", "hypothesis"), "MNLI", ("sentence1", "sentence2"), "gold_label", None,
                 392702, (9815, 9832)),
        GlueTask(_spec("qnli", "accuracy", _NLI2, True, "QNLI: question answering entailment"),
                 ("question", "sentence"), "QNLI", ("question", "sentence"), "label", None, 104743, (5463,)),
        GlueTask(_spec("rte", "accuracy", _NLI2, True, "RTE: textual entailment"),
                 ("sentence1", "sentence2"), "RTE", ("sentence1", "sentence2"), "label", None, 2490, (277,)),
        GlueTask(_spec("wnli", "accuracy", ("not_entailment", "entailment"), True, "WNLI: Winograd entailment"),
                 ("sentence1", "sentence2"), "WNLI", ("sentence1", "sentence2"), "label", None, 635, (71,)),
    )
}

# where each report split lives: file stems in the GLUE distribution and in HF exports
_SPLIT_STEMS = {
    "train": ("train",),
    "validation": ("dev", "validation"),
    "validation_matched": ("dev_matched", "validation_matched"),
    "validation_mismatched": ("dev_mismatched", "validation_mismatched"),
}


def _offline_hint(task: GlueTask) -> str:
    names = "train.tsv, " + ", ".join(f"{_SPLIT_STEMS[s][0]}.tsv" for s in task.spec.report_splits)
    return (
        f"run the task offline with --data-dir DIR holding the GLUE TSV files ({names}, as in "
        f"{task.tsv_dir}/ of the GLUE download) or a datasets save_to_disk copy of {HUB_ID}/{task.spec.name}"
    )


def _task_dir(task: GlueTask, data_dir: Path) -> Path:
    """The directory with this task's files: DIR itself, or DIR/MNLI, DIR/mnli, DIR/glue/mnli ..."""
    name = task.spec.name
    for cand in (data_dir / task.tsv_dir, data_dir / name, data_dir / "glue" / name, data_dir / name.upper(), data_dir):
        if cand.is_dir() and ((cand / "dataset_dict.json").is_file() or _find_split(cand, "train") is not None):
            return cand
    raise UserError(f"no {name} data found in {data_dir}; {_offline_hint(task)}")


def _find_split(folder: Path, split: str) -> Path | None:
    for stem in _SPLIT_STEMS[split]:
        for suffix in TABLE_SUFFIXES:
            if (folder / f"{stem}{suffix}").is_file():
                return folder / f"{stem}{suffix}"
    return None


def glue_fingerprint(name: str, data_dir: Path | None) -> str:
    """Identity of a GLUE task's data without reading it."""
    task = GLUE[name]
    if data_dir is None:
        return file_fingerprint([], FORMAT, HUB_ID, name)
    folder = _task_dir(task, Path(data_dir))
    return file_fingerprint(dir_files(folder), FORMAT, name)


def _label_ids(values: list[Any], spec: TaskSpec) -> list[Any]:
    """Label ids from GLUE's label strings or numbers; -1 for missing or unknown (dropped)."""
    if spec.problem_type == REGRESSION:
        out = []
        for v in values:
            try:
                out.append(float(v))
            except (TypeError, ValueError):
                out.append(float("nan"))
        return out
    index = {n: i for i, n in enumerate(spec.label_names)}
    out = []
    for v in values:
        if isinstance(v, str) and v in index:
            out.append(index[v])
            continue
        try:
            i = int(float(v))
        except (TypeError, ValueError):
            i = -1
        out.append(i if 0 <= i < len(spec.label_names) else -1)
    return out


def _standard(texts: list[list[str]], labels: list[Any], spec: TaskSpec) -> Any:
    import math

    import datasets

    keep = [i for i, v in enumerate(labels) if (v >= 0 if spec.problem_type != REGRESSION else not math.isnan(v))]
    data = {TEXT: [str(texts[0][i]) for i in keep], LABEL: [labels[i] for i in keep]}
    feats = {TEXT: datasets.Value("string")}
    if spec.pair:
        data[TEXT_PAIR] = [str(texts[1][i]) for i in keep]
        feats[TEXT_PAIR] = datasets.Value("string")
    feats[LABEL] = datasets.Value("float32" if spec.problem_type == REGRESSION else "int64")
    return datasets.Dataset.from_dict(data, features=datasets.Features(feats))


def _from_table(task: GlueTask, path: Path) -> Any:
    """A standard dataset from one split file (TSV as distributed, or HF-named columns)."""
    df = read_table(path)
    columns = [str(c) for c in df.columns]
    if task.tsv_names and path.suffix == ".tsv" and not set(task.tsv_columns) <= set(columns):
        df = read_table(path, list(task.tsv_names))  # CoLA's TSVs have no header row
        columns = list(task.tsv_names)
    for text_cols, label in ((task.columns, LABEL), (task.tsv_columns, task.tsv_label)):
        if all(c in columns for c in text_cols) and label in columns:
            texts = [df[c].tolist() for c in text_cols]
            return _standard(texts, _label_ids(df[label].tolist(), task.spec), task.spec)
    want = ", ".join(task.columns + (LABEL,))
    raise UserError(
        f"{path} has columns {', '.join(columns)}; {task.spec.name} needs {want} "
        f"(or the GLUE TSV columns {', '.join(task.tsv_columns + (task.tsv_label,))})"
    )


def _from_datasets(task: GlueTask, ds: Any) -> Any:
    """A standard dataset from the hub's / save_to_disk's columns."""
    missing = [c for c in task.columns + (LABEL,) if c not in ds.column_names]
    if missing:
        raise UserError(
            f"the {task.spec.name} data has no column {missing[0]!r} (columns: {', '.join(ds.column_names)}); "
            f"save the {HUB_ID} {task.spec.name} dataset as it is"
        )
    texts = [ds[c] for c in task.columns]
    return _standard(texts, _label_ids(list(ds[LABEL]), task.spec), task.spec)


def _load_splits(task: GlueTask, data_dir: Path | None) -> dict[str, Any]:
    names = ("train",) + task.spec.report_splits
    if data_dir is None:
        if not hub_reachable():
            raise UserError(f"the Hugging Face hub cannot be reached to download {task.spec.name}; "
                            f"{_offline_hint(task)}")
        import datasets

        try:
            raw = datasets.load_dataset(HUB_ID, task.spec.name)
        except Exception as exc:
            raise UserError(f"cannot download {HUB_ID}/{task.spec.name} ({type(exc).__name__}); "
                            f"{_offline_hint(task)}") from None
        return {s: _from_datasets(task, raw[s]) for s in names}
    folder = _task_dir(task, Path(data_dir))
    if (folder / "dataset_dict.json").is_file():
        import datasets

        try:
            raw = datasets.load_from_disk(str(folder))
        except Exception as exc:
            raise UserError(f"cannot load the save_to_disk copy in {folder}: {exc}") from None
        missing = [s for s in names if s not in raw]
        if missing:
            raise UserError(f"{folder} has no split {missing[0]!r} (splits: {', '.join(raw)}); {_offline_hint(task)}")
        return {s: _from_datasets(task, raw[s]) for s in names}
    out = {}
    for split in names:
        path = _find_split(folder, split)
        if path is None:
            raise UserError(f"{folder} has no {split} file; {_offline_hint(task)}")
        out[split] = _from_table(task, path)
    return out


def load_glue(name: str, data_dir: Path | None = None) -> TaskData:
    """A GLUE task: dev held out from train for selection, official validation split(s) for reporting."""
    task = GLUE[name]
    splits = _load_splits(task, data_dir)
    for split, ds in splits.items():
        if len(ds) == 0:
            raise UserError(f"the {split} split of {name} has no labelled rows; check the files")
    train, dev = split_official(splits.pop("train"), task.spec)
    return TaskData(task.spec, {"train": train, "dev": dev, **splits}, glue_fingerprint(name, data_dir))
