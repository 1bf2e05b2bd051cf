"""`posebench prepare`: one subcommand per dataset; each is imported only when invoked."""
from __future__ import annotations

import click

from posebench.cli import LazyGroup

# name -> "module:attribute" of a click command.
COMMANDS: dict[str, str] = {
    "h36m": "posebench.prepare.cli:h36m",
    "mpi3dhp": "posebench.prepare.cli_mpi:mpi3dhp",
    "mpii": "posebench.prepare.cli_mpi:mpii",
}


class _LazyGroup(LazyGroup):
    command_map = COMMANDS


@click.group("prepare", cls=_LazyGroup)
def prepare() -> None:
    """Official raw release -> prepared files under DATA/<dataset>/."""


@click.command("h36m", epilog="""\b
Examples:
  posebench prepare h36m --src /data/H36M --out data --jobs 8       # all seven subjects
  posebench prepare h36m --src /data/H36M --out data --subjects 9,11  # the test subjects only
  posebench prepare h36m --src /data/H36M --out data --verify /data/archives   # check the downloads first
  posebench sample h36m --out raw && posebench prepare h36m --src raw --out data --subjects 1,9,11
""")
@click.option("--src", type=click.Path(file_okay=False, path_type=str), required=True,
              help="The extracted release (holding S1, S5, ..., S11 with MyPoseFeatures/ and Videos/).")
@click.option("--out", type=click.Path(file_okay=False, path_type=str), required=True,
              help="The data folder: writes OUT/h36m/train.h5, test.h5 and images/.")
@click.option("--jobs", type=click.IntRange(min=1), default=1, show_default=True, help="Videos processed in parallel.")
@click.option("--subjects", multiple=True, metavar="LIST",
              help="Subjects to prepare, e.g. '9,11' or S9 (repeatable); default: all seven.")
@click.option("--image-stride", type=click.IntRange(min=0), default=5, show_default=True,
              help="Write every K-th frame of training subjects as JPEG (0: none); S9/S11 always every 64th.")
@click.option("--verify", "verify", type=click.Path(file_okay=False, path_type=str), default=None, metavar="ARCHIVES",
              help="First check the downloaded archives in this folder against the published MD5 sums.")
@click.option("--keep-shards", is_flag=True, help="Keep the per-view shards (DATA/h36m/.shards) after merging.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def h36m(src: str, out: str, jobs: int, subjects: tuple[str, ...], image_stride: int, verify: str | None,
         keep_shards: bool, quiet: bool) -> None:
    """Human3.6M: D3_Positions_mono + D2_Positions (+ universal) and videos -> DATA/h36m/{train,test}.h5."""
    from posebench.prepare.h36m import parse_subjects, prepare_h36m, verify_archives

    try:
        if verify:
            status = verify_archives(verify)
            bad = sorted(k for k, v in status.items() if v == "mismatch")
            found = sorted(k for k, v in status.items() if v != "missing")
            click.echo(f"archives: {len(found)} found in {verify}, "
                       f"{len(found) - len(bad)} match the published MD5 sums")
            if not found:
                raise click.ClickException(
                    f"{verify}: none of the {len(status)} published archives found (Poses_<kind>_S<n>.tgz, "
                    "Videos_S<n>.tgz or Poses/<kind>/SubjectSpecific_<k>.tgz)")
            if bad:
                raise click.ClickException(f"{verify}: MD5 mismatch for {', '.join(bad)}")
        summary = prepare_h36m(src, out, jobs=jobs, subjects=parse_subjects(subjects), image_stride=image_stride,
                               progress=not quiet, keep_shards=keep_shards)
    except ValueError as e:  # every preparer error subclasses ValueError: one clear line, no traceback
        raise click.ClickException(str(e)) from None
    for w in summary.warnings:
        click.echo(f"warning: {w}", err=True)
    for split, o in summary.outputs.items():
        click.echo(f"{split}: {o['path']}  rows {o['rows']}  with images {o['images']}  "
                   f"content {o['content_hash'][:16]}")
    click.echo(f"views: {summary.views} ({summary.reused} reused from an interrupted run)")
    if summary.broken_videos:
        click.echo(f"broken videos ({len(summary.broken_videos)}), rows kept with image='':")
        for v in summary.broken_videos:
            click.echo(f"  {v}")
