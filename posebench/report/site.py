"""`posebench site --out site/`: a self-contained static HTML site of the stored runs.

One page per protocol leaderboard and one per run (summary with intervals, ceiling, breakdowns, per-joint
tables, figures, worst cases). Tables sort on a header click; comparability notes and look-alike banners are
on the page. No server, no network: styles and script are inline, figures are PNG files beside the pages.
"""
from __future__ import annotations

import html
import math
import os
import re
from pathlib import Path
from typing import Any

import pandas as pd

from posebench.io_utils import write_text_atomic
from posebench.results import Result

CSS = """
body{font:15px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:0;color:#1d2329;background:#fafbfc}
header{background:#1d2b3a;color:#fff;padding:10px 24px}header a{color:#cfe3ff;margin-right:18px}
main{padding:16px 24px;max-width:1400px}h1{font-size:1.5em;margin:.4em 0}h2{font-size:1.2em;margin-top:1.6em}
.banner{background:#fff3cd;border:2px solid #d39e00;color:#5c4400;padding:10px 14px;margin:12px 0;font-weight:600}
.note{color:#45525e;font-size:.92em}.hint{background:#e8f1fb;border-left:4px solid #2f6db3;padding:6px 10px}
table{border-collapse:collapse;margin:8px 0 4px;background:#fff;font-size:.9em}
th,td{border:1px solid #d5dbe1;padding:4px 8px;text-align:left;vertical-align:top}
td.num{text-align:right;font-variant-numeric:tabular-nums}th{background:#eef1f4;position:relative}
table.sortable th{cursor:pointer;padding-right:18px}table.sortable th:after{content:"\\2195";position:absolute;right:4px;
color:#9aa5b1;font-size:.8em}th[aria-sort=ascending]:after{content:"\\25B2";color:#1d2b3a}
th[aria-sort=descending]:after{content:"\\25BC";color:#1d2b3a}tr.unranked td,tr.stale td{color:#6b7680}
img{max-width:min(100%,900px);border:1px solid #e1e5e9;background:#fff;margin:6px 0}ul.notes li{margin:3px 0}
"""

# Click a header to sort by that column (numbers as numbers, empty cells last); click again to reverse.
JS = """
document.querySelectorAll('table.sortable').forEach(function(table){
  table.querySelectorAll('th').forEach(function(th, col){
    th.addEventListener('click', function(){
      var asc = th.getAttribute('aria-sort') !== 'ascending';
      table.querySelectorAll('th').forEach(function(h){ h.removeAttribute('aria-sort'); });
      th.setAttribute('aria-sort', asc ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      function key(r){ var c = r.cells[col]; var v = c.getAttribute('data-value');
        if (v === null) v = c.textContent.trim(); var n = parseFloat(v);
        return (v !== '' && !isNaN(n) && isFinite(v)) ? [0, n] : (v === '' || v === '\\u2013' ? [2, 0] : [1, v]); }
      rows.sort(function(a, b){ var x = key(a), y = key(b);
        if (x[0] !== y[0]) return x[0] - y[0];
        var d = x[0] === 0 ? x[1] - y[1] : String(x[1]).localeCompare(String(y[1]));
        return asc ? d : -d; });
      rows.forEach(function(r){ body.appendChild(r); });
    });
  });
});
"""


def slug(text: str) -> str:
    """A file-name-safe form of a run id or protocol name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", str(text)).strip("-") or "page"


def _fmt(v: Any, digits: int) -> tuple[str, str | None]:
    if v is None or (isinstance(v, float) and math.isnan(v)) or v is pd.NA:
        return "\u2013", ""
    if isinstance(v, (int, float)) and not isinstance(v, bool):
        return (f"{v:.{digits}f}" if isinstance(v, float) else str(v)), repr(float(v))
    return str(v), None


def table_html(df: pd.DataFrame, digits: int = 1, index: bool = True, row_class: str | None = None,
               links: dict[str, dict[str, str]] | None = None) -> str:
    """A sortable HTML table of ``df`` (numbers right-aligned, sorted numerically); ``row_class`` names a column
    whose value becomes each row's class; ``links[column][text]`` turns that cell into a link."""
    cols = list(df.columns)
    head = ([df.index.name or ""] if index else []) + [str(c) for c in cols if c != row_class]
    out = ['<table class="sortable"><thead><tr>' + "".join(f"<th>{html.escape(h)}</th>" for h in head)
           + "</tr></thead><tbody>"]
    values = {c: df[c].tolist() for c in cols}  # per column, so integer columns stay integers
    for i, idx in enumerate(df.index):
        cls = f' class="{html.escape(str(values[row_class][i]))}"' if row_class else ""
        cells = [f"<td>{html.escape(str(idx))}</td>"] if index else []
        for c in cols:
            if c == row_class:
                continue
            text, value = _fmt(values[c][i], digits)
            attr = f' class="num" data-value="{value}"' if value is not None else ""
            target = ((links or {}).get(str(c)) or {}).get(text)
            shown = f'<a href="{html.escape(target)}">{html.escape(text)}</a>' if target else html.escape(text)
            cells.append(f"<td{attr}>{shown}</td>")
        out.append(f"<tr{cls}>" + "".join(cells) + "</tr>")
    out.append("</tbody></table>")
    return "\n".join(out)


def page(title: str, body: str, nav: str = "") -> str:
    """A whole HTML page: inline style and script, nothing fetched."""
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>{html.escape(title)}</title><style>{CSS}</style></head>\n<body><header>{nav}</header>"
            f"<main><h1>{html.escape(title)}</h1>\n{body}\n</main><script>{JS}</script></body></html>\n")


def banner(text: str) -> str:
    """The look-alike banner."""
    return f'<div class="banner" role="alert">{html.escape(text)}</div>'


def _notes(notes: list[str]) -> str:
    return ('<ul class="notes">' + "".join(f"<li>{html.escape(n)}</li>" for n in notes) + "</ul>") if notes else ""


def _is_lookalike(result: Result) -> bool:
    return bool((result.meta.get("data") or {}).get("lookalike"))


LOOKALIKE_BANNER = ("LOOK-ALIKE DATA: these runs scored synthetic data from `posebench sample`, not the real dataset. "
                    "Published figures are shown for orientation only and never ranked with them.")


def board_page(board: Any, nav: str, run_pages: dict[str, str]) -> str:
    """A leaderboard page: the ranked table, its notes, and what 'ranked' means."""
    from posebench.report.leaderboard import _display

    h = board.protocol.metric(board.protocol.headline)
    df = _display(board)
    df["status_class"] = board.rows["status"].to_numpy()
    lookalike = any("LOOK-ALIKE" in n for n in board.notes)
    body = [banner(LOOKALIKE_BANNER) if lookalike else "",
            f'<p>{html.escape(board.protocol.title)}</p>',
            f'<p class="note">Sorted by {html.escape(h.name)} ({"higher" if h.higher_is_better else "lower"} is '
            "better). Ranked: local runs and published rows whose comparability columns (joints, alignment, "
            "frames, aggregation, labels, scaling, ...) all match the protocol; the others are listed unranked with "
            "the reason in <em>note</em>. Click a column header to sort.</p>",
            table_html(df, digits=1, index=False, row_class="status_class",
                       links={"source": {f"local run {r}": p for r, p in run_pages.items()}}),
            "<h2>Comparability notes</h2>", _notes(board.notes) or "<p class=\"note\">none</p>"]
    runs = [(s.replace("local run ", ""), run_pages.get(s.replace("local run ", ""))) for s in board.rows["source"]
            if str(s).startswith("local run ")]
    if runs:
        body.append("<h2>Runs</h2><ul>" + "".join(f'<li><a href="{html.escape(p)}">{html.escape(r)}</a></li>'
                                                  for r, p in runs if p) + "</ul>")
    return page(f"Leaderboard: {board.title}", "\n".join(body), nav)


def _figure_file(fig: Any, out: Path, name: str) -> str:
    from posebench.report import plots

    plots.save_figure(fig, out / "img" / name, formats=("png",))
    return f"img/{name}.png"


def run_page(result: Result, out: Path, nav: str, n_boot: int = 1000, n_worst: int = 6,
             data: str | os.PathLike | None = None) -> str:
    """A run's page: provenance, summary with intervals, ceiling, hints, breakdowns, per-joint tables, figures."""
    from posebench.report import plots
    from posebench.report import joint_groups_for, run_label, summary_table, worst_case_figure
    from posebench.report.intervals import group_intervals

    p = result.protocol
    head = p.metric(p.headline)
    rid = slug(result.run_id)
    d = result.meta.get("data") or {}
    body = [banner(LOOKALIKE_BANNER.replace("these runs", "this run")) if _is_lookalike(result) else "",
            f"<p><b>{html.escape(run_label(result))}</b> on <b>{html.escape(p.name)} v{p.version}</b> "
            f"({html.escape(p.title)}); {result.meta.get('rows_scored', len(result.index))} rows; data "
            f"{html.escape(str(d.get('path')))} (hash {html.escape(str(d.get('content_hash'))[:12])}); "
            f"created {html.escape(str(result.meta.get('created')))}.</p>"]
    summary = summary_table(result, n_boot=n_boot)
    body += ["<h2>Summary (95% cluster-bootstrap intervals)</h2>", table_html(summary, digits=2)]
    if summary["clusters"].min() < 20:
        body.append(f'<p class="note">Only {int(summary["clusters"].min())} independent clusters: the intervals '
                    "are indicative only.</p>")
    ceiling = result.meta.get("ceiling")
    if ceiling:
        vals = ", ".join(f"{m} {ceiling['summary'][m]:.2f}" for m in p.metric_names if m in ceiling["summary"])
        body.append(f'<p class="note"><b>Ceiling</b> (the ground truth scored the same way): {html.escape(vals)}. '
                    f"{html.escape(ceiling['note'])}.</p>")
    for hint in result.meta.get("hints", []):
        body.append(f'<p class="hint">{html.escape(hint)}</p>')
    for key in [k for k in p.breakdowns if k in result.groups]:
        try:
            table = result.table(key)
        except KeyError:
            continue
        body += [f"<h2>By {html.escape(key)}</h2>", table_html(table, digits=2)]
        iv = group_intervals(result, head.name, key, n_boot=n_boot)
        fig = plots.group_bars(iv[["value"]].rename(columns={"value": run_label(result)}),
                               f"{head.name} ({head.unit})", f"{head.name} by {key} (95% cluster-bootstrap intervals)",
                               low=iv[["low"]].rename(columns={"low": run_label(result)}),
                               high=iv[["high"]].rename(columns={"high": run_label(result)}))
        body.append(f'<img alt="{html.escape(head.name)} by {html.escape(key)}" '
                    f'src="{_figure_file(fig, out, f"{rid}-bars-{slug(key)}")}">')
    by = next((k for k in p.breakdowns if k in result.groups and any(str(v) for v in result.groups[k])), None)
    for m in [head] + [x for x in p.metrics if x.name == "mpjpe" and x is not head]:
        groups = joint_groups_for(m)
        table = result.joint_table(m.name, by=by, joint_groups=groups)
        body += [f"<h2>{html.escape(m.name)} ({html.escape(m.unit)}) per {'joint group' if groups else 'joint'}</h2>",
                 table_html(table, digits=1), f'<p class="note">{html.escape(table.attrs.get("all_row", ""))}</p>']
    curve = next((m for m in p.metrics if m.align == "none" and m.name in result.errors), None)
    if curve is not None:
        fig = plots.pck_curve({run_label(result): result.errors[curve.name]},
                              title=f"3D PCK vs threshold ({curve.name} errors, {p.name})")
        body += ["<h2>PCK vs threshold</h2>", f'<img alt="PCK curve" src="{_figure_file(fig, out, f"{rid}-pck")}">']
    fig = worst_case_figure(result, n_worst, data)
    body.append(f"<h2>Worst cases by {html.escape(head.name)}</h2>")
    if isinstance(fig, str):
        body.append(f'<p class="note">Not drawn: {html.escape(fig)}.</p>')
    else:
        body.append(f'<img alt="worst cases" src="{_figure_file(fig, out, f"{rid}-worst")}">')
    return page(f"Run {result.run_id}", "\n".join(body), nav)


def build_site(out: str | os.PathLike, results_dir: str | os.PathLike | None = None,
               published: pd.DataFrame | None = None, n_boot: int = 1000, n_worst: int = 6) -> list[Path]:
    """Write the site under ``out``: index.html, one leaderboard-*.html per board, one run-*.html per run."""
    from posebench.report import build_leaderboard, run_label
    from posebench.results import list_runs

    out = Path(out)
    (out / "img").mkdir(parents=True, exist_ok=True)
    runs = list_runs(results_dir)
    boards = build_leaderboard(runs, published, n_boot=n_boot)
    board_files = {id(b): f"leaderboard-{slug(b.protocol.name)}{'-' + slug(b.labels) if b.labels else ''}.html"
                   for b in boards}
    run_files = {r.run_id: f"run-{slug(r.run_id)}.html" for r in runs}
    nav = '<a href="index.html">posebench</a>' + "".join(
        f'<a href="{board_files[id(b)]}">{html.escape(b.title)}</a>' for b in boards)
    written = []
    for b in boards:
        path = out / board_files[id(b)]
        write_text_atomic(path, board_page(b, nav, run_files))
        written.append(path)
    for r in runs:
        path = out / run_files[r.run_id]
        write_text_atomic(path, run_page(r, out, nav, n_boot=n_boot, n_worst=n_worst))
        written.append(path)
    listing = pd.DataFrame([{"run": r.run_id, "method": run_label(r), "protocol": r.protocol.name,
                             r.protocol.headline: float(r.meta["summary"][r.protocol.headline]),
                             "data": "look-alike" if _is_lookalike(r) else "as prepared", "created": r.meta.get("created")}
                            for r in runs]) if runs else pd.DataFrame(columns=["run"])
    links = "".join(f'<li><a href="{board_files[id(b)]}">{html.escape(b.title)}</a>: {html.escape(b.protocol.title)}'
                    f" ({len(b.rows)} rows)</li>" for b in boards)
    run_links = "".join(f'<li><a href="{run_files[r.run_id]}">{html.escape(r.run_id)}</a></li>' for r in runs)
    body = [banner(LOOKALIKE_BANNER) if any(_is_lookalike(r) for r in runs) else "",
            "<h2>Leaderboards</h2>", f"<ul>{links}</ul>", "<h2>Runs</h2>",
            table_html(listing.set_index("run"), digits=2) if runs else "<p>No stored runs.</p>",
            f"<ul>{run_links}</ul>"]
    index = out / "index.html"
    write_text_atomic(index, page("posebench results", "\n".join(body), nav))
    return [index, *written]
