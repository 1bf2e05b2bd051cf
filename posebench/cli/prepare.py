"""`posebench prepare h36m | mpi3dhp | mpii`: thin click commands over the preparers (official release -> prepared file)."""
from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator

import click

from posebench.cli import LazyGroup

# name -> "module:attribute" of a click command.
COMMANDS: dict[str, str] = {
    "h36m": "posebench.cli.prepare:h36m",
    "mpi3dhp": "posebench.cli.prepare:mpi3dhp",
    "mpii": "posebench.cli.prepare:mpii",
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


@contextlib.contextmanager
def _clean_errors() -> Iterator[None]:
    """Bad input -> one 'Error: <file>: <problem>' line; warnings -> 'warning: ...' lines."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            yield
        except ValueError as e:  # every preparer error class subclasses ValueError
            raise click.ClickException(str(e)) from None
        finally:
            for w in caught:
                click.echo(f"warning: {w.message}", err=True)


def _cameras(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int, ...]:
    try:
        cams = tuple(int(c) for c in value.split(",") if c.strip())
    except ValueError:
        raise click.BadParameter(f"{value!r} is not a comma-separated list of camera indices") from None
    if not cams or len(set(cams)) != len(cams):
        raise click.BadParameter(f"{value!r}: give distinct camera indices, e.g. 0,1,2,4,5,6,7,8")
    return cams


def _check_jobs(jobs: int) -> None:
    if jobs == 0 or jobs < -1:
        raise click.BadParameter(f"{jobs} workers: give a positive number, or -1 for all cores", param_hint="--jobs")


@click.command("mpi3dhp", epilog="""\b
Examples:
  posebench prepare mpi3dhp --split test --labels corrected --src /data/mpi_inf_3dhp --out data
  posebench prepare mpi3dhp --split test --labels original --src /data/mpi3dhp-2017 --out data --size 0
  posebench prepare mpi3dhp --split train --src /data/mpi_inf_3dhp --out data --jobs 4
""")
@click.option("--split", type=click.Choice(["test", "train"]), required=True,
              help="test: TS1..TS6 -> test-<labels>.h5; train: S1..S8 -> train.h5 + val.h5 (val = S4/Seq1, S8/Seq2).")
@click.option("--src", type=click.Path(file_okay=False, path_type=str), required=True,
              help="The release folder (holding TS1..TS6, or S1..S8).")
@click.option("--out", type=click.Path(file_okay=False, path_type=str), required=True,
              help="DATA folder; files go to DATA/mpi3dhp/.")
@click.option("--labels", type=click.Choice(["original", "corrected"]), default=None,
              help="Test split (required): which label release the annot_data.mat files are. No file marks it.")
@click.option("--size", type=int, default=768, show_default=True,
              help="Store images resized to this height in px, aspect kept (reference: 768); 0 copies them unchanged.")
@click.option("--images/--no-images", default=True, show_default=True, help="Test split: copy/resize the images.")
@click.option("--calib-dir", type=click.Path(file_okay=False, path_type=str), default=None,
              help="Test split: folder with ts1-4cameras.calib / ts5-6cameras.calib (default: searched under --src).")
@click.option("--cameras", default="0,1,2,4,5,6,7,8", show_default=True, callback=_cameras,
              help="Train split: camera indices (default: the 8 VNect cameras).")
@click.option("--stride", type=int, default=None, help="Train split: keep every N-th frame instead of the motion rule.")
@click.option("--motion-mm", type=float, default=200.0, show_default=True,
              help="Train split: keep a frame once some joint moved this far (universal mm) since the last kept one.")
@click.option("--masks/--no-masks", default=True, show_default=True,
              help="Train split: extract FGmasks / ChairMasks frames (for background augmentation).")
@click.option("--jobs", type=int, default=1, show_default=True, help="Parallel workers (joblib; -1 = all cores).")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def mpi3dhp(split: str, src: str, out: str, labels: str | None, size: int, images: bool, calib_dir: str | None,
            cameras: tuple[int, ...], stride: int | None, motion_mm: float, masks: bool, jobs: int, quiet: bool) -> None:
    """MPI-INF-3DHP official release -> DATA/mpi3dhp/{test-<labels>,train,val}.h5."""
    if size < 0:
        raise click.BadParameter("must be >= 0", param_hint="--size")
    _check_jobs(jobs)
    with _clean_errors():
        if split == "test":
            if labels is None:
                raise click.UsageError("--labels original|corrected is required for --split test: no file marks its "
                                       "label release (valid-frame counts are recorded to help tell them apart)")
            from posebench.prepare.mpi3dhp import prepare_test

            path = prepare_test(src, out, labels, height=size, images=images, jobs=jobs, calib_dir=calib_dir,
                                progress=not quiet, echo=click.echo)
            click.echo(f"wrote {path}")
        else:
            if labels is not None:
                raise click.UsageError("--labels applies to --split test only")
            from posebench.prepare.mpi3dhp_train import prepare_train

            for path in prepare_train(src, out, cameras=cameras, height=size, stride=stride, motion_mm=motion_mm,
                                      masks=masks, jobs=jobs, progress=not quiet, echo=click.echo):
                click.echo(f"wrote {path}")


@click.command("mpii", epilog="""\b
Examples:
  posebench prepare mpii --src /data/mpii --out data
  posebench prepare mpii --src /data/mpii --out data --val-indices my-val.txt
""")
@click.option("--src", type=click.Path(exists=True, path_type=str), required=True,
              help="Folder with mpii_human_pose_v1_u12_1.mat and images/.")
@click.option("--out", type=click.Path(file_okay=False, path_type=str), required=True,
              help="DATA folder; files go to DATA/mpii/.")
@click.option("--images/--no-images", default=True, show_default=True, help="Copy the images of annotated persons.")
@click.option("--val-indices", type=click.Path(exists=True, dir_okay=False, path_type=str), default=None,
              help="Text file of 0-based annolist indices (one per line) to use as validation images "
                   "(default: the documented SHA-1 rule, about 10 %).")
@click.option("--jobs", type=int, default=1, show_default=True, help="Parallel workers for copying images.")
@click.option("--quiet", is_flag=True, help="No progress bars.")
def mpii(src: str, out: str, images: bool, val_indices: str | None, jobs: int, quiet: bool) -> None:
    """MPII Human Pose -> DATA/mpii/{train,val}.h5 (2D: canonical 17 joints with masks)."""
    from posebench.prepare.mpii import prepare_mpii

    _check_jobs(jobs)
    with _clean_errors():
        for path in prepare_mpii(src, out, images=images, val_indices=val_indices, jobs=jobs, progress=not quiet,
                                 echo=click.echo):
            click.echo(f"wrote {path}")
