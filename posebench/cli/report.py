"""`posebench leaderboard`, `posebench report` and `posebench compare`: thin click wrappers over posebench.report."""
from __future__ import annotations

from pathlib import Path

import click

FORMAT = click.Choice(["md", "csv", "latex", "json"])


def _fail(e: Exception) -> None:
    raise click.ClickException(str(e))


def current_data_hashes(data: str | None) -> dict[str, str]:
    """Content hash of the prepared file each protocol scores in a data folder (`name` or `name:labels` keys)."""
    from posebench.data import PreparedFileError, data_root, read_attrs
    from posebench.protocols import list_protocols

    out: dict[str, str] = {}
    if data is None:
        return out
    for p in list_protocols():
        folder = data_root(data) / p.dataset
        for lab in p.labels or (None,):
            path = folder / (f"{p.split}-{lab}.h5" if lab else f"{p.split}.h5")
            try:
                h = read_attrs(path).get("content_hash") if path.is_file() else None
            except PreparedFileError:
                h = None
            if h:
                out[f"{p.name}:{lab}" if lab else p.name] = str(h)
    return out


@click.command(epilog="""\b
Examples:
  posebench leaderboard                                  # every protocol, Markdown
  posebench leaderboard --protocol h36m --format latex   # paste into a paper (needs booktabs)
  posebench leaderboard --format json --results-dir demo-out/results
""")
@click.option("--protocol", "-p", default=None, help="Only this protocol (name or alias).")
@click.option("--format", "fmt", type=FORMAT, default="md", show_default=True, help="What to print.")
@click.option("--results-dir", type=click.Path(file_okay=False), default=None,
              help="Runs live in RESULTS/runs/ (default $POSEBENCH_RESULTS or ./posebench-results).")
@click.option("--data", "-d", type=click.Path(file_okay=False), default=None,
              help="Data folder: runs whose data hash differs from its prepared files are flagged stale "
                   "(default: the newest run's data is current).")
@click.option("--published", type=click.Path(dir_okay=False, exists=True), default=None,
              help="Another published.csv (default: the shipped one).")
@click.option("--n-boot", default=2000, show_default=True, help="Bootstrap resamples for the headline interval.")
def leaderboard(protocol, fmt, results_dir, data, published, n_boot):
    """Print the leaderboard and rewrite RESULTS/leaderboard.md (runs + published figures)."""
    from posebench.protocols import load_protocol
    from posebench.report import build_leaderboard, load_published, render_leaderboard, write_leaderboard
    from posebench.results import list_runs, results_root

    try:
        wanted = load_protocol(protocol).name if protocol else None
        runs = list_runs(results_dir)
        boards = build_leaderboard(runs, load_published(published), data_hashes=current_data_hashes(data),
                                   n_boot=n_boot)
        shown = [b for b in boards if wanted in (None, b.protocol.name)]
        click.echo(render_leaderboard(shown, fmt), nl=False)
        path = write_leaderboard(boards, results_root(results_dir))  # always every protocol
    except (ValueError, LookupError, OSError) as e:
        _fail(e)
    if not shown:
        click.echo(f"no runs or published figures for protocol {wanted!r}", err=True)
    click.echo(f"{len(runs)} runs; wrote {path}", err=True)


@click.command(epilog="""\b
Examples:
  posebench report h36m--mean-pose--20261129T070000-1a2b3c
  posebench report results/runs/RUN.json --out report/ --data data/h36m/test.h5 --predictions preds.h5
""")
@click.argument("run")
@click.option("--results-dir", type=click.Path(file_okay=False), default=None, help="Where runs are stored.")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=None,
              help="Output folder (default RESULTS/reports/<run_id>).")
@click.option("--data", type=click.Path(dir_okay=False), default=None,
              help="The prepared file the run scored, for worst-case overlays (default: its recorded path).")
@click.option("--predictions", type=click.Path(dir_okay=False), default=None,
              help="The run's predictions file, for worst-case overlays (default: its recorded path).")
@click.option("--worst", default=6, show_default=True, help="How many worst cases to draw.")
@click.option("--n-boot", default=2000, show_default=True, help="Bootstrap resamples per interval.")
def report(run, results_dir, out, data, predictions, worst, n_boot):
    """Tables (CSV/Markdown/LaTeX/JSON) and plots (PNG/PDF) for one run."""
    from posebench.report import resolve_run, write_report
    from posebench.results import results_root

    try:
        result = resolve_run(run, results_dir)
        folder = Path(out) if out else results_root(results_dir) / "reports" / result.run_id
        written = write_report(result, folder, data=data, predictions=predictions, n_worst=worst, n_boot=n_boot)
    except (ValueError, LookupError, OSError) as e:
        _fail(e)
    click.echo((folder / "index.md").read_text(encoding="utf-8"))
    click.echo(f"wrote {len(written)} files to {folder}", err=True)


@click.command(epilog="""\b
Examples:
  posebench compare RUN_A RUN_B
  posebench compare RUN_A RUN_B --metric mpjpe --format latex
""")
@click.argument("run_a")
@click.argument("run_b")
@click.option("--results-dir", type=click.Path(file_okay=False), default=None, help="Where runs are stored.")
@click.option("--metric", "metrics", multiple=True, help="Metrics to compare (default: all of the protocol's).")
@click.option("--format", "fmt", type=FORMAT, default="md", show_default=True)
@click.option("--n-boot", default=2000, show_default=True, help="Bootstrap resamples for the difference.")
def compare(run_a, run_b, results_dir, metrics, fmt, n_boot):
    """Paired, cluster-aware comparison of two runs on their shared rows (A - B, 95% CI, p-value)."""
    from posebench.report import compare_runs, render, resolve_run

    try:
        a, b = resolve_run(run_a, results_dir), resolve_run(run_b, results_dir)
        table, notes = compare_runs(a, b, list(metrics) or None, n_boot=n_boot)
    except (ValueError, LookupError, OSError, KeyError) as e:
        _fail(e)
    if fmt in ("md", "latex"):
        click.echo(f"A = {a.run_id}\nB = {b.run_id}\n"
                   f"protocol {a.protocol.name} v{a.protocol.version}; clusters: {a.protocol.cluster or 'rows'}; "
                   "p: two-sided sign-flip test over clusters\n")
    if fmt in ("md", "latex"):
        table["p"] = [f"{p:.4f}" if p >= 1e-4 else "<0.0001" for p in table["p"]]
    click.echo(render(table, fmt, digits=3), nl=fmt in ("md", "latex"))
    for n in notes:
        click.echo(f"note: {n}", err=True)
