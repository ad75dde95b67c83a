"""`autopeft report RUN_DIR`: Pareto plots, hypervolume, per-layer picture, an HTML page and a table.

matplotlib, plotly and pandas are imported inside the command, so `autopeft --help` stays instant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def report(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `autopeft search`")],
    out: Annotated[Path | None, typer.Option("--out", help="where to write (default RUN_DIR/report/)")] = None,
    compare: Annotated[
        list[Path] | None,
        typer.Option("--compare", help="another run to draw beside it (repeat for several): one front per run"),
    ] = None,
) -> None:
    """Write pareto.png, hypervolume.png, layers.png, report.html and front.md for a run (finished or not)."""
    from rich.console import Console

    from autopeft.report.build import build_report

    files = build_report(run_dir, out, compare or ())
    console = Console()
    console.print(f"report of [bold]{run_dir}[/bold]:")
    for path in files.values():
        console.print(f"  {path}")


def register(app: typer.Typer) -> None:
    """Add `report` to the autopeft command."""
    app.command("report")(report)
