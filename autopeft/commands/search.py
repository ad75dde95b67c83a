"""`autopeft search`: search PEFT configurations for a task within a parameter budget.

Imports torch, optuna and botorch only when it runs, so `autopeft --help` stays instant."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

Opt = typer.Option


def search(
    task: Annotated[str | None, Opt("--task", "-t", help="a task name (see `autopeft tasks`), a CSV/JSON/parquet "
                                    "file, a dataset directory or a hub dataset id")] = None,
    budget: Annotated[str, Opt(help="PEFT parameters allowed: 0.5%, 0.005 or a count (120k, 1.2M)")] = "0.5%",
    model: Annotated[str, Opt("--model", "-m", help="minilm (embedded), a local directory or a hub id")] = "minilm",
    space: Annotated[str | None, Opt(help="a preset (full, autopeft, noah, lora) or a space YAML file "
                                     "(default: full; autopeft for --strategy autopeft-paper)")] = None,
    strategy: Annotated[str, Opt(help="mobo, auto, random, tpe, nsga2, adalora, autopeft-paper or noah-paper; "
                                      "options as NAME:key=value, e.g. mobo:start=baselines")] = "mobo",
    trials: Annotated[int | None, Opt(help="trained trials to run (default 10, or unlimited with --time-limit)")]
    = None,
    time_limit: Annotated[str | None, Opt(help="stop after this long: 90s, 30m, 2h")] = None,
    fidelity: Annotated[str, Opt(help="smoke|quick|standard|paper and/or steps=N,data=F,eval=M")] = "quick",
    workers: Annotated[int | None, Opt(help="Ray workers on this machine (trials run in parallel); 1 = in-process")]
    = None,
    ray_address: Annotated[str | None, Opt(help="an existing Ray cluster's address")] = None,
    out: Annotated[Path | None, Opt(help="run directory (default runs/<task>-<date>-<time>)")] = None,
    seed: Annotated[int, Opt(help="seed of the strategy and of every trial's training")] = 0,
    baselines: Annotated[bool, Opt(help="also train the hand-designed baselines that fit the budget")] = False,
    resume: Annotated[Path | None, Opt(help="continue the search in this run directory")] = None,
    keep_weights: Annotated[str, Opt(help="keep trained PEFT+head weights: none, front or all")] = "front",
    plot_every: Annotated[int, Opt(help="redraw report/pareto.png every N trials (0: only at the end)")] = 0,
    data_dir: Annotated[str | None, Opt(help="local data for GLUE tasks (GLUE TSV, save_to_disk, CSV)")] = None,
    text_cols: Annotated[str | None, Opt(help="text column(s) of a custom task: COL or COL1,COL2")] = None,
    label_col: Annotated[str | None, Opt(help="label column of a custom task (default label)")] = None,
    storage: Annotated[str | None, Opt(help="an Optuna storage URL for the study (default: study.db in the run "
                                       "directory; postgresql://… to share one)")] = None,
    exportable: Annotated[str | None, Opt(help="peft: search only what HF peft can load (LoRA ranks per layer and "
                                          "projection; space lora by default)")] = None,
) -> None:
    """Search hybrid PEFT configurations for TASK within --budget; writes the run directory and prints the front."""
    from rich.console import Console

    from autopeft.search.api import search as run_search

    console = Console(stderr=True)
    bar = _Bar(console)
    result = run_search(
        task, budget=budget, model=model, space=space, strategy=strategy, trials=trials, time_limit=time_limit,
        fidelity=fidelity, workers=workers, ray_address=ray_address, out=out, seed=seed, baselines=baselines,
        resume=resume, keep_weights=keep_weights, plot_every=plot_every, data_dir=data_dir, text_cols=text_cols,
        label_col=label_col, storage=storage, exportable=exportable, on_start=bar.start, on_progress=bar.update)
    bar.stop()
    _print_front(result, Console())


class _Bar:
    """A rich progress bar: trials done, best score, front size, hypervolume, time left."""

    def __init__(self, console: Any):
        self.console, self.progress, self.task = console, None, None

    def start(self, s: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        what = "resuming" if s.resumed else "search"
        self.console.print(f"[bold]{what}[/bold] {s.run_dir}  ({s.strategy}, space {s.bound.name}, budget "
                           f"{s.budget_params:,} PEFT params, fidelity {s.fidelity}, {s.trials} trials)")
        self.progress = Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console)
        self.task = self.progress.add_task("search", total=s.trials if s.trials < 10**6 else None, info="")
        self.progress.start()

    def update(self, p: Any) -> None:
        import time

        if self.progress is None:
            return
        best = f"{p.best_score:.4f}" if p.best_score is not None else "-"
        left = ""
        if p.deadline is not None:
            left = f" left {max(0, p.deadline - time.monotonic()) / 60:.1f}m"
        info = f"best {best} front {p.front_size} HV {p.hypervolume:.4f}{left}"
        if getattr(p, "status", ""):
            info += f"  [dim]{p.status}[/dim]"
        self.progress.update(self.task, completed=p.done, info=info)

    def stop(self) -> None:
        if self.progress is not None:
            self.progress.stop()


# front.md's columns left to the file: a full summary per row wrapped the terminal's cells 20 lines
# high, and with the rest an 80-column terminal cut the methods and the numbers short.
_FILE_ONLY = ("configuration", "head params", "fidelity", "wall (s)")


def _print_front(result: Any, console: Any) -> None:
    """The front as front.md tables it (trial, methods, score, size), one line per member;
    the configurations are in front.csv (and front.md, once `autopeft report` writes it)."""
    from autopeft.report.run import load_run
    from autopeft.report.tables import baselines_table, front_table

    run = load_run(result.run_dir)
    searched = int((result.trials["kind"] == "search").sum())
    title = f"Pareto front ({len(run.front)} of {searched} trials; hypervolume {result.hypervolume:.4f})"
    console.print(_table(front_table(run), title) if len(run.front) else f"{title}: no completed trial yet")
    if len(run.baselines):
        console.print(_table(baselines_table(run), "baselines (not in the front)"))
    console.print(f"configurations: {Path(result.run_dir) / 'front.csv'} "
                  f"(`autopeft report {result.run_dir}` writes front.md and the plots)")
    console.print(f"stopped: {result.stopped}")
    console.print(f"run directory: {result.run_dir}")


def _table(df: Any, title: str) -> Any:
    """A rich table of a report table's columns, less those left to the files."""
    from rich.markup import escape
    from rich.table import Table

    from autopeft.report.tables import NUMERIC_COLUMNS

    df = df.drop(columns=[c for c in _FILE_ONLY if c in df])
    table = Table(title=title)
    for col in df.columns:
        table.add_column(col, justify="right" if col in NUMERIC_COLUMNS else "left")
    for row in df.itertuples(index=False):
        table.add_row(*(escape(str(v)) for v in row))
    return table


def register(app: typer.Typer) -> None:
    """Add `autopeft search` to the CLI."""
    app.command(name="search")(search)
