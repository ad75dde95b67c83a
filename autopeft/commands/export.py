"""`autopeft export RUN_DIR ...`: write a run's chosen candidate for native autopeft, HF peft or AdapterHub."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def export(
    run_dir: Annotated[Path, typer.Argument(help="a run directory written by `autopeft search`")],
    out: Annotated[Path, typer.Option("--out", "-o", help="the directory to write")],
    trial: Annotated[str | None, typer.Option("--trial", help="export this trial number")] = None,
    best: Annotated[bool, typer.Option("--best", help="export the highest score (within --budget)")] = False,
    budget: Annotated[str | None, typer.Option(help="with --best: 0.5%, 0.005 or a count (120k)")] = None,
    knee: Annotated[bool, typer.Option("--knee", help="export the knee of the Pareto front")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="native | peft | adapters")] = "native",
    merged: Annotated[bool, typer.Option("--merged", help="also write a full model with LoRA/(IA)3/BitFit folded "
                                                         "in (OUT/merged)")] = False,
    quantize: Annotated[str | None, typer.Option(help="4bit or 8bit: load and check the export on a quantized "
                                                 "backbone (default: full precision)")] = None,
) -> None:
    """Export a trial of a search: its configuration, and its trained weights when the search kept them."""
    from autopeft.export.exporter import Request
    from autopeft.export.exporter import export as run_export

    request = Request(run_dir=run_dir, out=out, fmt=fmt, trial=trial, best=best, budget=budget, knee=knee,
                      merged=merged, quantize=quantize)
    for line in run_export(request):
        print(line)


def register(app: typer.Typer) -> None:
    """Add `export` to the `autopeft` command."""
    app.command(name="export")(export)
