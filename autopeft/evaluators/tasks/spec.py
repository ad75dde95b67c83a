"""What a task is (`TaskSpec`) and its loaded data (`TaskData`)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

CLASSIFICATION = "single_label_classification"
REGRESSION = "regression"
# Standard column names every loader produces, whatever the source calls them.
TEXT, TEXT_PAIR, IMAGE, LABEL = "text", "text_pair", "image", "label"


@dataclass(frozen=True)
class TaskSpec:
    """A task's fixed facts: input kind, metric, labels, and which splits report vs select."""

    name: str
    kind: str  # "text" | "image"
    metric: str  # a key of evaluators.metrics.METRICS
    label_names: tuple[str, ...] = ()  # empty for regression
    problem_type: str = CLASSIFICATION
    pair: bool = False  # text tasks with two text columns
    report_splits: tuple[str, ...] = ("test",)  # official/held-out splits, never used for selection
    description: str = ""

    @property
    def num_labels(self) -> int:
        """Outputs of the task head (1 for regression)."""
        return 1 if self.problem_type == REGRESSION else len(self.label_names)


@dataclass
class TaskData:
    """A task's splits as `datasets.Dataset`s with standard columns (text[, text_pair] | image, label).

    `train` trains, `dev` (held out from the training data) selects, `spec.report_splits` report.
    `fingerprint` identifies the content, so encodings can be cached on disk.
    """

    spec: TaskSpec
    splits: dict[str, Any]
    fingerprint: str
    info: dict[str, Any] = field(default_factory=dict)

    def sizes(self) -> dict[str, int]:
        """Number of examples per split."""
        return {name: len(ds) for name, ds in self.splits.items()}
