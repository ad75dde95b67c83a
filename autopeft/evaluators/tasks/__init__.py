"""The task registry: `--task NAME|FILE|DIR|HUB_ID` resolved to a `TaskRef` that loads `TaskData`.

Built in: the nine GLUE tasks (hub or `--data-dir`), the embedded `tweet_sentiment`,
`fashion_mnist` and `mnist_5k`. Otherwise a CSV/JSON/parquet file (custom text task), a
`save_to_disk` directory or image folder, or a hub dataset id.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from autopeft.errors import UserError
from autopeft.evaluators.tasks.spec import CLASSIFICATION, REGRESSION, TaskData, TaskSpec

EMBEDDED = ("tweet_sentiment", "fashion_mnist", "mnist_5k")


def builtin_names() -> list[str]:
    """Names of the built-in tasks: GLUE, then the embedded ones."""
    from autopeft.evaluators.tasks.glue import GLUE

    return list(GLUE) + list(EMBEDDED)


@dataclass(frozen=True)
class TaskRef:
    """A task as the user named it; plain data, so it can be shipped to Ray workers."""

    name: str
    data_dir: str | None = None
    text_cols: tuple[str, ...] | None = None
    label_col: str | None = None

    def _cols(self) -> list[str] | None:
        return list(self.text_cols) if self.text_cols else None

    def _kind(self) -> str:
        from autopeft.evaluators.tasks.files import TABLE_SUFFIXES
        from autopeft.evaluators.tasks.glue import GLUE

        if self.name in GLUE:
            return "glue"
        if self.name in EMBEDDED:
            return self.name
        path = Path(self.name).expanduser()
        if path.is_file() or path.suffix.lower() in TABLE_SUFFIXES:
            return "file"
        if path.is_dir():
            return "dir"
        if self.name.count("/") == 1 and not self.name.startswith((".", "/", "~")):
            return "hub"
        raise UserError(
            f"unknown task {self.name!r}; use one of {', '.join(builtin_names())}, a CSV/JSON/parquet file "
            "(with --text-cols/--label-col), a dataset directory, or a hub dataset id (see `autopeft tasks`)"
        )

    def fingerprint(self) -> str:
        """Identity of the task's data, cheap (file sizes and times), for the encoding cache."""
        from autopeft.evaluators.tasks import custom, generic, glue, images, tweets

        kind = self._kind()
        if kind == "glue":
            return glue.glue_fingerprint(self.name, Path(self.data_dir) if self.data_dir else None)
        if kind == "tweet_sentiment":
            return tweets.tweets_fingerprint()
        if kind == "fashion_mnist":
            return images.fashion_fingerprint()
        if kind == "mnist_5k":
            return images.mnist_fingerprint()
        if kind == "file":
            return custom.custom_fingerprint(Path(self.name).expanduser(), self._cols(), self.label_col or "label")
        if kind == "dir":
            return generic.dir_fingerprint(Path(self.name).expanduser(), self._cols(), self.label_col)
        return f"hub:{self.name}:{self._cols()}:{self.label_col}"

    def load(self) -> TaskData:
        """Read and split the task's data (UserError with one line for any bad input)."""
        from autopeft.evaluators.tasks import custom, generic, glue, images, tweets

        kind = self._kind()
        if kind == "glue":
            return glue.load_glue(self.name, Path(self.data_dir) if self.data_dir else None)
        if kind == "tweet_sentiment":
            return tweets.load_tweets()
        if kind == "fashion_mnist":
            return images.load_fashion()
        if kind == "mnist_5k":
            return images.load_mnist_5k()
        if kind == "file":
            return custom.load_custom(Path(self.name).expanduser(), self._cols(), self.label_col or "label")
        if kind == "dir":
            return generic.load_dir(Path(self.name).expanduser(), self._cols(), self.label_col)
        return generic.load_hub(self.name, self._cols(), self.label_col)


def task_ref(name: str, data_dir: str | None = None, text_cols: str | None = None,
             label_col: str | None = None) -> TaskRef:
    """A TaskRef from CLI strings (`--text-cols a,b`), checked for being a known kind of task."""
    cols = tuple(c.strip() for c in text_cols.split(",") if c.strip()) if text_cols else None
    ref = TaskRef(name, data_dir, cols, label_col)
    ref._kind()  # unknown names fail here, with the list of known ones
    if data_dir is not None and not Path(data_dir).expanduser().is_dir():
        raise UserError(f"--data-dir {data_dir} is not a directory")
    return ref


__all__ = ["CLASSIFICATION", "REGRESSION", "TaskData", "TaskRef", "TaskSpec", "builtin_names", "task_ref"]
