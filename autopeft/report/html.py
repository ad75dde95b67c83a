"""`report.html`: one self-contained page (plotly inlined, images as data URIs, no network)."""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from autopeft.report.html_figures import hypervolume_figure, pareto_figure
from autopeft.report.hypervolume import hypervolume_curve
from autopeft.report.io import atomic_write_bytes
from autopeft.report.run import RunData
from autopeft.report.style import fmt_pct
from autopeft.report.tables import baselines_table, challenge_note, challenge_table, front_table, trials_table

_PLOT_CONFIG = {"displaylogo": False, "responsive": True}
_CSS = """
body{font-family:system-ui,-apple-system,'Segoe UI',Roboto,Helvetica,Arial,sans-serif;margin:0;color:#1a1a1a;
 background:#fafafa}
main{max-width:1280px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:26px;margin:0 0 4px} h2{font-size:19px;margin:34px 0 10px;border-bottom:1px solid #e3e3e3;
 padding-bottom:6px} .sub{color:#555;margin:0 0 18px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:14px 0}
.card{background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:10px 14px;min-width:120px}
.card b{display:block;font-size:20px} .card span{color:#666;font-size:12px}
.panel{background:#fff;border:1px solid #e3e3e3;border-radius:8px;padding:8px}
table{border-collapse:collapse;background:#fff;font-size:13px;width:100%}
th,td{border-bottom:1px solid #ececec;padding:5px 9px;text-align:left;vertical-align:top}
th{background:#f2f2f2;position:sticky;top:0;cursor:pointer;user-select:none} tr:hover td{background:#f7fbff}
td:nth-child(n+1){font-variant-numeric:tabular-nums} code,pre{font-size:12px} pre{white-space:pre-wrap}
details{margin:10px 0} summary{cursor:pointer;font-weight:600} img{max-width:100%}
"""
# Click a header to sort its table (numbers as numbers); no library, no network.
_SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th){th.addEventListener('click',function(){
 var t=th.closest('table'),b=t.tBodies[0],i=Array.prototype.indexOf.call(th.parentNode.children,th);
 var asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
 var key=function(r){var s=r.children[i].textContent.replace(/[,%]/g,'');var n=parseFloat(s);
  return isNaN(n)?s:n;};
 Array.from(b.rows).sort(function(a,c){var x=key(a),y=key(c);
  return (x<y?-1:x>y?1:0)*(asc?1:-1);}).forEach(function(r){b.appendChild(r);});});});
"""


def write_html(runs: Sequence[RunData], data: Sequence[dict[str, pd.DataFrame]], path: Path,
               images: dict[str, Path] | None = None) -> Path:
    """Write the page: summary, interactive front, hypervolume, the layers picture, the tables."""
    run = runs[0]
    meta = run.meta
    pareto = pareto_figure(runs, data).to_html(full_html=False, include_plotlyjs=True, div_id="pareto",
                                               config=_PLOT_CONFIG)
    hv = hypervolume_figure(runs).to_html(full_html=False, include_plotlyjs=False, div_id="hypervolume",
                                          config=_PLOT_CONFIG)
    title = f"autopeft report: {meta.get('task', 'task')} on {meta.get('model', 'model')}"
    parts = [f"<h1>{_e(title)}</h1>", f"<p class='sub'>{_e(_subtitle(run, runs))}</p>", _cards(run),
             "<h2>Pareto front</h2>",
             "<p class='sub'>Hover a point for its configuration; click legend entries to hide or show them.</p>",
             f"<div class='panel'>{pareto}</div>", "<h2>Hypervolume</h2>", f"<div class='panel'>{hv}</div>"]
    if images and images.get("layers") and Path(images["layers"]).is_file():
        parts += ["<h2>Where the front's members put their parameters</h2>", _img(Path(images["layers"]))]
    parts += ["<h2>The front</h2>", _table(front_table(run), "front-table")]
    if len(run.baselines):
        parts += ["<h2>Hand-designed baselines</h2>", _table(baselines_table(run), "baselines-table")]
    final = challenge_table(run)
    if len(final):  # what `export --best` takes, where the search challenged its pick (--challenge)
        parts += ["<h2>Final challenge</h2>", f"<p class='sub'>{_e(challenge_note(final))}</p>",
                  _table(final, "challenge-table")]
    for other in runs[1:]:
        parts += [f"<h2>Front of {_e(other.name)}</h2>", _table(front_table(other), "")]
    parts += [f"<details><summary>All {len(run.trials)} trials</summary>{_table(trials_table(run), 'trials-table')}"
              "</details>",
              f"<details><summary>run.json</summary><pre>{_e(json.dumps(meta, indent=2, default=str))}</pre></details>"]
    page = (f"<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'><title>{_e(title)}</title>"
            f"<meta name='viewport' content='width=device-width,initial-scale=1'><style>{_CSS}</style></head>"
            f"<body><main>{''.join(parts)}</main><script>{_SORT_JS}</script></body></html>")
    return atomic_write_bytes(path, page.encode())


def _subtitle(run: RunData, runs: Sequence[RunData]) -> str:
    meta = run.meta
    bits = [f"strategy {meta.get('strategy') or run.name}", f"space {meta.get('space', '?')}",
            f"seed {meta.get('seed', '?')}", f"run directory {run.path}"]
    from autopeft.report.backbone import precision_line

    if precision_line(meta):
        bits.insert(3, precision_line(meta))
    if len(runs) > 1:
        bits.append("compared with " + ", ".join(r.name for r in runs[1:]))
    return " · ".join(bits)


def _cards(run: RunData) -> str:
    counts = run.counts()
    curve = hypervolume_curve(run)
    best = run.front["score"].max() if len(run.front) else None
    cards = [("budget", fmt_pct(run.budget_pct) if run.budget_pct else "n/a"),
             ("completed trials", str(counts.get("complete", 0))), ("failed", str(counts.get("failed", 0))),
             ("running", str(counts.get("running", 0))), ("front size", str(len(run.front))),
             (f"best {run.metric}", f"{best:.4f}" if best is not None else "n/a"),
             ("hypervolume", f"{curve['hypervolume'].iloc[-1]:.4f}" if len(curve) else "n/a")]
    return "<div class='cards'>" + "".join(f"<div class='card'><b>{_e(v)}</b><span>{_e(k)}</span></div>"
                                           for k, v in cards) + "</div>"


def _table(df: pd.DataFrame, table_id: str) -> str:
    if df.empty:
        return "<p class='sub'>None yet.</p>"
    out = df.to_html(index=False, escape=True, border=0, classes="sortable", table_id=table_id or None)
    return out


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f"<div class='panel'><img alt='{_e(path.stem)}' src='data:image/png;base64,{data}'></div>"


def _e(text: object) -> str:
    return html.escape(str(text), quote=True)
