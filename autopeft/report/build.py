"""`build_report`: every file of `autopeft report` for one run, or one run compared with others."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from autopeft.report.html import write_html
from autopeft.report.hypervolume import plot_hypervolume
from autopeft.report.layers import plot_layers
from autopeft.report.pareto import pareto_data, plot_pareto
from autopeft.report.run import load_run
from autopeft.report.tables import write_front_md


def build_report(run_dir: str | Path, out: str | Path | None = None,
                 compare: Sequence[str | Path] = ()) -> dict[str, Path]:
    """Write pareto.png, hypervolume.png, layers.png, report.html and front.md; return their paths.

    With `compare`, pareto.png and hypervolume.png hold one front / curve per run; the tables and
    layers.png describe the first run."""
    runs = [load_run(run_dir)] + [load_run(c) for c in compare]
    out_dir = Path(out) if out is not None else Path(run_dir) / "report"
    out_dir.mkdir(parents=True, exist_ok=True)
    data = [pareto_data(r) for r in runs]
    files = {
        "pareto": plot_pareto(runs, out_dir / "pareto.png"),
        "hypervolume": plot_hypervolume(runs, out_dir / "hypervolume.png"),
        "layers": plot_layers(runs[0], out_dir / "layers.png"),
        "front": write_front_md(runs[0], out_dir / "front.md"),
    }
    files["html"] = write_html(runs, data, out_dir / "report.html", images=files)
    return files
