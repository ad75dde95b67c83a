"""Reports of a search run: Pareto and hypervolume plots, the per-layer picture, report.html, front.md.

`autopeft report RUN_DIR` calls `build.build_report`; a running search calls
`pareto.write_pareto_png` for `--plot-every`. Light to import: matplotlib and plotly load inside."""
