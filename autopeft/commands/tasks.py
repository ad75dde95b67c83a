"""`autopeft tasks`: the built-in tasks with their metric, labels and split sizes."""

from __future__ import annotations

from typing import Annotated, Any

import typer


def task_rows(data_dir: str | None = None) -> list[dict[str, Any]]:
    """One row per built-in task: name, kind, metric, labels, sizes (train / dev / report), source."""
    from autopeft.evaluators.tasks import EMBEDDED, task_ref
    from autopeft.evaluators.tasks.glue import GLUE
    from autopeft.evaluators.tasks.splits import holdout_size
    from autopeft.evaluators.tasks.summary import embedded_sizes

    rows = []
    for name, g in GLUE.items():
        dev = holdout_size(g.train_size)
        report = " + ".join(f"{n:,}" for n in g.validation_sizes)
        source = "hub / --data-dir"
        if data_dir is not None:
            try:
                task_ref(name, data_dir).fingerprint()
                source = f"--data-dir {data_dir}"
            except Exception:  # not in that directory: the hub stays the way to get it
                pass
        rows.append(_row(g.spec, g.train_size - dev, dev, report, source))
    for name in EMBEDDED:
        spec, sizes = embedded_sizes(name)
        report = " + ".join(f"{sizes[s]:,}" for s in spec.report_splits)
        rows.append(_row(spec, sizes["train"], sizes["dev"], report, "embedded"))
    return rows


def _row(spec: Any, train: int, dev: int, report: str, source: str) -> dict[str, Any]:
    labels = "regression" if not spec.label_names else str(len(spec.label_names))
    return {"task": spec.name, "kind": spec.kind, "metric": spec.metric, "labels": labels, "train": f"{train:,}",
            "dev": f"{dev:,}", "report": report, "source": source}


def tasks(
    data_dir: Annotated[str | None, typer.Option(help="also check which GLUE tasks this directory holds")] = None,
) -> None:
    """List the built-in tasks: metric, labels, train / dev (selection) / report split sizes."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title="tasks: dev is held out from train for selection; report = official validation (GLUE; "
                  "mnli matched + mismatched) or held-out test, used only to report")
    rows = task_rows(data_dir)
    for col in rows[0]:
        table.add_column(col, overflow="fold")
    for row in rows:
        table.add_row(*row.values())
    console = Console()
    console.print(table)
    console.print("custom: --task FILE.csv|json|parquet --text-cols A[,B] --label-col Y (float labels regress); "
                  "--task DIR (save_to_disk or image folder); --task ORG/NAME (hub dataset, online)")


def register(app: typer.Typer) -> None:
    """Add `tasks` to the autopeft command."""
    app.command("tasks")(tasks)
