"""`posebench convert`, `table` and `site`: thin click wrappers over importers, report.paper_tables, report.site."""
from __future__ import annotations

import click

from posebench.importers import FORMATS
from posebench.skeleton import ORDERS


@click.command(epilog="""\b
Examples:
  posebench convert vp3d_predictions.npz preds.h5 -p h36m-lifting               # VideoPose3D layout
  posebench convert results.json preds.h5 -p h36m-lifting --from mmpose
  posebench convert inference_data.mat preds.h5 -p mpi3dhp-official            # TS1..TS6, 3x17x1xN
  posebench convert mine.h5 preds.h5 -p h36m --joint-order h36m17               # pelvis-first order
""")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
@click.option("--protocol", "-p", required=True, help="The protocol whose rows the predictions are for.")
@click.option("--data", "-d", type=click.Path(), default=None,
              help="Data folder (default $POSEBENCH_DATA or ./data) or a prepared .h5 file.")
@click.option("--from", "from_format", type=click.Choice(sorted(FORMATS)), default=None,
              help="Layout of SOURCE (default: detected from its name and contents).")
@click.option("--joint-order", type=click.Choice(sorted(ORDERS)), default=None,
              help="Joint order of SOURCE (default: the layout's own: h36m17 for videopose3d/mmpose).")
def convert(source, out, protocol, data, from_format, joint_order):
    """Write SOURCE (VideoPose3D, mmpose, MPI .mat, ...) as a plain posebench predictions file OUT."""
    from posebench.errors import PosebenchError
    from posebench.evaluation import convert_predictions

    try:
        n = convert_predictions(source, out, protocol, data, from_format=from_format, joint_order=joint_order)
    except (PosebenchError, LookupError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {n} rows (joints3d in mm, canonical order, index = prepared-file rows) to {out}")


@click.command(epilog="""\b
Examples:
  posebench table --protocol h36m-lifting --by action                  # Table 4's layout, Markdown
  posebench table -p h36m-lifting --by action --metric pa_mpjpe --format latex > table.tex
  posebench table -p mpi3dhp-official --by activity --format csv
  posebench table -p mpi3dhp-corrected --by activity --overlays figs/  # + PCK curves and bars of every run
""")
@click.option("--protocol", "-p", required=True, help="Protocol name or alias.")
@click.option("--by", default=None, help="Columns: a grouping key (action, activity, sequence, scene, subject); "
                                         "default: the protocol's first breakdown.")
@click.option("--metric", default=None, help="The metric in the cells (default: the protocol's headline).")
@click.option("--format", "fmt", type=click.Choice(["md", "csv", "latex"]), default="md", show_default=True)
@click.option("--results-dir", type=click.Path(file_okay=False), default=None, help="Where runs are stored.")
@click.option("--run", "run_ids", multiple=True, help="Only these runs (id or unique prefix; repeatable).")
@click.option("--published/--no-published", default=True, show_default=True, help="Add the published rows.")
@click.option("--overlays", type=click.Path(file_okay=False), default=None,
              help="Also write overlay figures of the runs (PCK curves, per-group bars with intervals) here.")
@click.option("--digits", default=1, show_default=True)
def table(protocol, by, metric, fmt, results_dir, run_ids, published, overlays, digits):
    """Methods in rows, groups (e.g. actions) in columns, the protocol's aggregate as Mean: local runs and papers."""
    from posebench.errors import PosebenchError
    from posebench.protocols import load_protocol
    from posebench.report import load_published, resolve_run
    from posebench.results import list_runs
    from posebench.report.paper_tables import paper_table, render_table, runs_for, write_overlays

    try:
        p = load_protocol(protocol)
        runs = [resolve_run(r, results_dir) for r in run_ids] if run_ids else runs_for(p, list_runs(results_dir))
        by = by or (p.breakdowns[0] if p.breakdowns else "subject")
        df, notes = paper_table(p, runs, by=by, metric=metric, published=load_published() if published else None)
        click.echo(render_table(df, notes, fmt, digits=digits), nl=False)
        if overlays and runs:
            for path in write_overlays(runs_for(p, runs), overlays, by=by, metric=metric):
                click.echo(f"wrote {path}", err=True)
    except (PosebenchError, LookupError) as e:
        raise click.ClickException(str(e).strip("\"'")) from None


@click.command(epilog="""\b
Examples:
  posebench site --out site/                  # then open site/index.html in a browser (no server needed)
  posebench site --out site/ --results-dir results --n-boot 2000
""")
@click.option("--out", "-o", required=True, type=click.Path(file_okay=False), help="Folder to write the site into.")
@click.option("--results-dir", type=click.Path(file_okay=False), default=None, help="Where runs are stored.")
@click.option("--n-boot", default=1000, show_default=True, help="Bootstrap resamples per interval.")
@click.option("--worst", default=6, show_default=True, help="Worst cases drawn per run.")
def site(out, results_dir, n_boot, worst):
    """A self-contained static HTML site: one page per leaderboard and per run (opens from disk, no network)."""
    from posebench.errors import PosebenchError
    from posebench.report.site import build_site

    try:
        files = build_site(out, results_dir, n_boot=n_boot, n_worst=worst)
    except (PosebenchError, LookupError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(f"wrote {len(files)} pages to {out}; open {files[0]}")
