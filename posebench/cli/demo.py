"""`posebench demo`: the main job end to end on look-alike data (the work is in posebench.demo)."""
from __future__ import annotations

import click

from posebench.demo import DemoError, run_demo


@click.command(epilog="""\b
Examples:
  posebench demo --out demo-out
  posebench demo --out demo-out --checkpoint margipose-h36m.pth     # adds MargiPose on the image protocols
  posebench leaderboard --results-dir demo-out/results --format latex
""")
@click.option("--out", "-o", type=click.Path(file_okay=False), default=".", show_default=True,
              help="Folder for raw/, data/, predictions/, results/ and plots/.")
@click.option("--seed", default=0, show_default=True, help="Seed of the look-alike data.")
@click.option("--checkpoint", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A MargiPose checkpoint: also evaluate MargiPose.")
@click.option("--device", default=None, help="Torch device for MargiPose.")
@click.option("--n-boot", default=2000, show_default=True, help="Bootstrap resamples for the intervals.")
def demo(out, seed, checkpoint, device, n_boot):
    """Generate look-alike data, prepare it, evaluate the baselines, print the leaderboard, write plots."""
    try:
        run_demo(out, seed=seed, checkpoint=checkpoint, device=device, say=click.echo, n_boot=n_boot)
    except (DemoError, ValueError, OSError) as e:
        raise click.ClickException(str(e)) from None
