"""The `margipose` command: `train` (margipose.train) and `predict IMAGE` (one image, assumed camera)."""
from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
import numpy as np

from margipose.model import MargiPoseConfig
from margipose.train import TrainOptions


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main() -> None:
    """MargiPose, the posebench reference model: train it, run it on one image, or convert the authors' weights.

    \b
      margipose train --data DATA --out runs/mp --backbone-weights inception_v4.pth
      margipose predict photo.jpg --checkpoint runs/mp/checkpoint.pt --out photo-pose.png
      margipose convert margipose-mpi3d.pth mp-authors.pt
      posebench evaluate --model margipose --checkpoint runs/mp/checkpoint.pt --protocol mpi3dhp-corrected --data DATA
    """


# Help for the model options (fields of MargiPoseConfig; the defaults are the paper's configuration).
MODEL_HELP = {
    "stages": "Stages of xy/zy/xz columns.", "channels": "Feature channels entering each column.",
    "mid_channels": "Channels in the column's half-resolution middle.", "joints": "Joints predicted.",
    "input_size": "Input crop side in pixels.", "heatmap_size": "Heatmap side (default input-size/8).",
    "axis_permutation": "Axis permutation in the zy/xz columns.", "jsd": "Jensen-Shannon heatmap regulariser.",
    "sigma": "Gaussian target width (heatmap cells).", "head": "Marginal (xy/zy/xz) or volumetric head.",
    "depth_size": "D of the volumetric head.", "normalisation": "Input normalisation inside the model.",
}
MODEL_CHOICES = {"head": ("marginal", "volumetric"), "normalisation": ("imagenet", "inception")}
_TYPES = {"dir": click.Path(file_okay=False), "file": click.Path(exists=True, dir_okay=False), "str": str}


def _option(f: dataclasses.Field, default: Any, help: str, meta: Any) -> Callable:
    """One click option for a dataclass field: bool -> --x/--no-x flag, choices, paths, typed values."""
    name = f.name.replace("_", "-")
    if isinstance(default, bool):
        return click.option(meta.get("flags", f"--{name}/--no-{name}"), f.name, default=default, show_default=True,
                            help=help)
    if "choices" in meta:
        kind: Any = click.Choice(list(meta["choices"]))
    elif "type" in meta:
        kind = _TYPES[meta["type"]]
    else:
        kind = type(default) if default is not None else int
    return click.option(f"--{name}", f.name, type=kind, default=default, required=meta.get("required", False),
                        show_default=default is not None, help=help)


def options_from_dataclasses(func: Callable) -> Callable:
    """Add `margipose train`'s options: every TrainOptions field (but ``model``) and every MargiPoseConfig field."""
    opts = [_option(f, f.default, f.metadata.get("help", ""), f.metadata)
            for f in dataclasses.fields(TrainOptions) if f.metadata.get("cli", True)]
    model = [_option(f, f.default, MODEL_HELP.get(f.name, ""),
                     {"choices": MODEL_CHOICES[f.name]} if f.name in MODEL_CHOICES else {})
             for f in dataclasses.fields(MargiPoseConfig)]
    for decorate in reversed(opts + model):
        func = decorate(func)
    return func


@main.command("train", epilog="""\b
Examples:
  margipose train --data data --out runs/mp --backbone-weights inception_v4.pth     # the paper's recipe (GPU)
  margipose train --data data --dataset h36m --out runs/h36m --backbone-weights inception_v4.pth \\
      --max-minutes 600 --resume
  torchrun --nproc-per-node 8 -m margipose.cli train --data data --out runs/mp --backbone-weights inception_v4.pth
  margipose train --data data --split train --out runs/tiny --device cpu --no-pretrained --stages 2 \\
      --channels 32 --mid-channels 32 --input-size 64 --epochs 2 --samples-per-epoch 256 --batch-size 8
""")
@options_from_dataclasses
@click.option("--resume", is_flag=True, help="Continue from OUT/checkpoint.pt.")
def train_command(resume: bool, **values: Any) -> None:
    """Train MargiPose on prepared files (CPU for tiny configs; CUDA bf16; torchrun for several GPUs)."""
    from margipose.checkpoint import CheckpointError
    from margipose.train import TrainingError, train

    model_names = {f.name for f in dataclasses.fields(MargiPoseConfig)}
    model = {k: v for k, v in values.items() if k in model_names}
    opts = TrainOptions(**{k: v for k, v in values.items() if k not in model_names}, model=model)
    try:
        path = train(opts, resume=resume)
    except (TrainingError, CheckpointError, ValueError) as e:
        raise click.ClickException(str(e)) from None
    click.echo(str(path))


def _parse_box(text: str | None, width: int, height: int) -> np.ndarray:
    if text is None:  # a centred box 2/3 of the image, so the 1.5x square crop spans its longer side
        return np.array([[width / 6, height / 6, width * 5 / 6, height * 5 / 6]])
    try:
        box = np.array([[float(v) for v in text.split(",")]])
    except ValueError:
        box = np.zeros((1, 0))
    if box.shape != (1, 4) or not (box[0, 2] > box[0, 0] and box[0, 3] > box[0, 1]):
        raise click.BadParameter(f"expected x0,y0,x1,y1 with x1>x0 and y1>y0, got {text!r}", param_hint="--box")
    return box


@main.command("predict")
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--checkpoint", type=click.Path(exists=True, dir_okay=False), required=True)
@click.option("--out", type=click.Path(dir_okay=False), default=None, help="Figure path (default IMAGE-pose.png).")
@click.option("--joints", "joints_path", type=click.Path(dir_okay=False), default=None,
              help="3D joints file, .json or .csv (default IMAGE-pose.json): camera-space mm with the intrinsics used.")
@click.option("--box", default=None, help="Person box x0,y0,x1,y1 in pixels (default: a centred box two thirds of the image).")
@click.option("--focal", type=float, default=None, help="Focal length in pixels (default 1.2 x image width).")
@click.option("--depth", type=float, default=None, help="Assumed root depth in mm (default 4500).")
@click.option("--device", default=None)
def predict(image, checkpoint, out, joints_path, box, focal, depth, device) -> None:
    """Predict the 3D pose in IMAGE with an assumed camera; save the 3D joints (mm) and a figure of the skeleton
    and the three marginal heatmaps."""
    from margipose import coords
    from margipose.checkpoint import CheckpointError, load_model
    from margipose.data import ImageFileError, open_rgb, to_tensor, warp_crop
    from margipose.infer import ASSUMED_DEPTH_MM, Predictor, write_joints
    from margipose.plots import pose_figure

    joints_path = Path(joints_path) if joints_path else Path(image).with_name(Path(image).stem + "-pose.json")
    if joints_path.suffix.lower() not in (".json", ".csv"):
        raise click.BadParameter("expected a .json or .csv file", param_hint="--joints")
    try:
        model = load_model(checkpoint)
        pic = open_rgb(Path(image))
    except (CheckpointError, ImageFileError) as e:
        raise click.ClickException(str(e)) from None
    w, h = pic.size
    k = np.array([[focal or 1.2 * w, focal or 1.2 * w, w / 2, h / 2]])
    boxes = _parse_box(box, w, h)
    z = np.array([depth or ASSUMED_DEPTH_MM])
    predictor = Predictor(model, device)
    joints = predictor.predict([pic], k, boxes, z)[0]
    centre, side = coords.square_box(boxes, 1.5)
    geom = coords.make_crop(k, centre, side, model.config.input_size)
    crop = warp_crop(pic, coords.image_affine(geom)[0], model.config.input_size)
    last = predictor.run(to_tensor(crop)[None])[-1]
    out = Path(out) if out else Path(image).with_name(Path(image).stem + "-pose.png")
    pose_figure(np.asarray(crop), joints, {k: v[0].numpy() for k, v in last.items() if k != "coords"}, out)
    write_joints(joints_path, joints, k[0], float(z[0]), boxes[0], Path(image).name,
                 {"focal": focal is None, "depth": depth is None})
    click.echo(str(out))
    click.echo(str(joints_path))


@main.command("convert")
@click.argument("source", type=click.Path(exists=True, dir_okay=False))
@click.argument("out", type=click.Path(dir_okay=False))
def convert(source, out) -> None:
    """Write a posebench checkpoint (OUT) from one of the authors' released files (SOURCE, e.g.
    margipose-mpi3d.pth). Not needed for evaluation, which reads their files as they are."""
    from margipose.checkpoint import CheckpointError, checkpoint_hash, save_checkpoint
    from margipose.authors import convert_authors_file

    try:
        model, provenance = convert_authors_file(source)
        provenance["sha256"] = checkpoint_hash(source)
        save_checkpoint(out, model, converted_from=provenance)
    except CheckpointError as e:
        raise click.ClickException(str(e)) from None
    click.echo(str(out))


if __name__ == "__main__":
    main()
