"""`autopeft search`: search PEFT configurations for a task within a parameter budget.

Imports torch, optuna and botorch only when it runs, so `autopeft --help` stays instant."""

from __future__ import annotations

import inspect
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from autopeft.search.options import cli_signature

if TYPE_CHECKING:
    from rich.progress import Progress, TaskID

Opt = typer.Option


def search(**options: Any) -> None:
    """Search hybrid PEFT configurations for TASK within --budget; writes the run directory and prints the front."""
    from rich.console import Console

    from autopeft.search.api import search as run_search

    console = Console(stderr=True)
    bar = _Bar(console)
    result = run_search(**options, on_start=bar.start, on_progress=bar.update)
    bar.stop()
    _print_front(result, Console())


# the flags are `SearchOptions`' fields (one place for each option's name, default and help), and --resume
search.__signature__ = cli_signature([inspect.Parameter(  # type: ignore[attr-defined]
    "resume", inspect.Parameter.KEYWORD_ONLY, default=None,
    annotation=Annotated[Path | None, Opt(help="continue the search in this run directory")])])


class _Bar:
    """A rich progress bar: trials done, best score, front size, hypervolume, time left."""

    def __init__(self, console: Any):
        self.console = console
        self.progress: Progress | None = None
        self.task: TaskID | None = None

    def start(self, s: Any) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        what = "resuming" if s.resumed else "search"
        self.console.print(f"[bold]{what}[/bold] {s.run_dir}  ({s.options.strategy}, space {s.bound.name}, budget "
                           f"{s.budget_params:,} PEFT params, fidelity {s.fidelity}, {s.trials} trials)")
        self.progress = Progress(TextColumn("trials"), BarColumn(), MofNCompleteColumn(),
                                 TextColumn("{task.fields[info]}"), TimeElapsedColumn(), console=self.console)
        self.task = self.progress.add_task("search", total=s.trials if s.trials < 10**6 else None, info="")
        self.progress.start()

    def update(self, p: Any) -> None:
        import time

        if self.progress is None or self.task is None:  # not started (both are set together)
            return
        best = f"{p.best_score:.4f}" if p.best_score is not None else "-"
        left = ""
        if (left_s := p.left_s()) is not None:
            left = f" left {left_s / 60:.1f}m" + (" of CPU" if p.clock is time.process_time else "")
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
    _print_confirmed(result, console)
    _print_challenged(result, console)
    console.print(f"configurations: {Path(result.run_dir) / 'front.csv'} "
                  f"(`autopeft report {result.run_dir}` writes front.md and the plots)")
    console.print(f"stopped: {result.stopped}")
    console.print(f"run directory: {result.run_dir}")


def _print_confirmed(result: Any, console: Any) -> None:
    """With --confirm: the pick the extra seeds made, which `export --best` takes."""
    from autopeft.export import rundir

    if "confirmed" not in result.trials or result.trials["confirmed"].isna().all():
        return
    pick = rundir.best(rundir.read_run(result.run_dir))
    console.print(f"pick, confirmed on more seeds: trial {pick['trial']} ({pick['summary']}, "
                  f"{int(float(pick['peft_params'])):,} parameters), dev {float(pick['confirmed']):.4f} the mean of "
                  f"{pick['seeds']} trainings; `autopeft export {result.run_dir} --best` exports it")


def _print_challenged(result: Any, console: Any) -> None:
    """With --challenge: the two final trainings and which one `export --best` takes."""
    from autopeft.export import rundir

    finals = rundir.challenged(rundir.read_run(result.run_dir))
    if not finals:
        return
    win, *rest = finals  # more than two where a resumed search with more trials found a new pick

    def who(r: dict[str, str]) -> str:
        role = f"the baseline {r['name']}" if r.get("name") else f"the search's pick (trial {r['challenges']})"
        return f"{role}, {int(float(r['peft_params'])):,} parameters, dev {float(r['score']):.4f}"

    console.print(f"final challenge at {win['fidelity']}: {who(win)} against {'; '.join(map(who, rest))}; "
                  f"`autopeft export {result.run_dir} --best` exports trial {win['trial']}, that training")


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
