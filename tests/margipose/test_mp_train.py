import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from margipose.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_checkpoint
from margipose.cli import main
from margipose.model import MargiPose
from margipose.train import TrainingError, TrainOptions, one_cycle, train

TINY = {"stages": 2, "channels": 16, "mid_channels": 16, "input_size": 64}


def _opts(data, out, **kw):
    base = dict(data=str(data), out=str(out), dataset="mpi3dhp", split="train", epochs=1, samples_per_epoch=8,
                batch_size=4, lr_max=0.1, workers=0, progress=False, pretrained=False, model=dict(TINY))
    base.update(kw)
    return TrainOptions(**base)


def test_one_cycle_knots():
    assert one_cycle(0, 100) == pytest.approx((0.1, 0.9))
    assert one_cycle(45, 100) == pytest.approx((1.0, 0.85))
    assert one_cycle(90, 100) == pytest.approx((0.1, 0.9))
    assert one_cycle(100, 100, lr_max=0.5) == pytest.approx((0.5e-4, 0.9))


@pytest.fixture(scope="module")
def run(data_tree, tmp_path_factory):
    out = tmp_path_factory.mktemp("mp-run")
    path = train(_opts(data_tree, out))
    return out, path


def test_train_writes_checkpoint_log_and_data_hashes(run):
    out, path = run
    ckpt = load_checkpoint(path)
    assert ckpt["epoch"] == 1 and ckpt["step"] == 2 and ckpt["total_steps"] == 2
    assert set(ckpt["data"]) == {"mpi3dhp/train.h5", "mpii/train.h5"}  # mixed with MPII (auto)
    lines = [json.loads(x) for x in (out / "log.jsonl").read_text().splitlines()]
    assert any("epoch_mean" in x for x in lines) and all(np.isfinite(x.get("loss", 0)) for x in lines)


def test_training_ships_image_bytes(data_tree, tmp_path):
    """Both kinds of training set give uint8 crops; the model scales them on the device (Backbone.forward)."""
    from margipose.train import _datasets

    sets3d, sets2d, _ = _datasets(_opts(data_tree, tmp_path), 64)
    assert sets3d and sets2d
    assert all(ds.image_dtype == torch.uint8 and ds[0]["image"].dtype == torch.uint8 for ds in sets3d + sets2d)


def test_checkpoint_round_trip_gives_identical_predictions(run, tmp_path):
    _, path = run
    model = model_from_checkpoint(load_checkpoint(path)).eval()
    x = torch.rand(2, 3, 64, 64)
    again = tmp_path / "copy.pt"
    save_checkpoint(again, model, epoch=1)
    model2 = model_from_checkpoint(load_checkpoint(again)).eval()
    with torch.no_grad():
        assert torch.equal(model(x)[-1]["coords"], model2(x)[-1]["coords"])


def test_resume_continues_and_refuses_changes(data_tree, tmp_path):
    out = tmp_path / "run"
    train(_opts(data_tree, out, epochs=2, max_minutes=1e-9))  # stops after one step, checkpointed mid-epoch
    first = load_checkpoint(out / "checkpoint.pt")
    assert first["epoch"] == 0 and first["step"] == 1
    train(_opts(data_tree, out, epochs=2), resume=True)
    done = load_checkpoint(out / "checkpoint.pt")
    assert done["epoch"] == 2 and done["step"] == 1 + 2 * 2
    assert not all(torch.equal(first["model"][k], done["model"][k]) for k in first["model"])
    with pytest.raises(TrainingError, match="model options"):
        train(_opts(data_tree, out, epochs=3, model={**TINY, "stages": 3}), resume=True)
    with pytest.raises(TrainingError, match="data changed"):
        train(_opts(data_tree, out, epochs=3, mpii="no"), resume=True)


def test_bad_inputs_give_clear_errors(tmp_path):
    with pytest.raises(TrainingError, match="no prepared file for split .train."):
        train(_opts(tmp_path, tmp_path / "o"))
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(CheckpointError, match="junk.pt"):
        load_checkpoint(tmp_path / "junk.pt")
    torch.save({"weights": torch.zeros(1)}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not a MargiPose checkpoint"):
        load_checkpoint(tmp_path / "other.pt")


def test_evaluate_through_posebench_entry_point(run, data_tree):
    import posebench
    from posebench.data import read_prepared
    from posebench.evaluation import image_root, make_template
    from posebench.models import create_model
    from posebench.protocols import load_protocol

    _, path = run
    protocol = load_protocol("h36m")
    prepared = read_prepared(data_tree / "h36m" / "test.h5")
    model = create_model("margipose", protocol=protocol, data=data_tree, checkpoint=str(path), multicrop=True)
    assert model.name == "margipose" and len(model.checkpoint_hash) == 64
    batch = make_template(protocol, prepared)
    batch["image_root"] = image_root(prepared)
    pred = model.predict(batch)
    assert pred.shape == (len(batch["index"]), 17, 3) and np.isfinite(pred).all()
    # the granted root depth is used: the predicted root lands near it
    assert np.allclose(pred[:, 14, 2], batch["root_depth"], rtol=0.5)
    # a two-step model's skeleton is tiny, so the millimetre sanity check is off here
    result = posebench.evaluate(pred, protocol, prepared, index=batch["index"], check_units=False)
    assert np.isfinite(result.summary["mpjpe"]) and result.summary["mpjpe"] > 0
    with pytest.raises(TypeError, match="unknown option"):
        create_model("margipose", protocol=protocol, data=data_tree, checkpoint=str(path), ten_crop=True)


def test_cli_predict_saves_a_figure(run, data_tree, tmp_path):
    _, path = run
    image = data_tree / "h36m" / "images" / "test" / "0000.png"
    out = tmp_path / "fig.png"
    res = CliRunner().invoke(main, ["predict", str(image), "--checkpoint", str(path), "--out", str(out),
                                    "--joints", str(tmp_path / "pose.json"), "--focal", "200"])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 1000
    pose = json.loads((tmp_path / "pose.json").read_text())
    assert pose["units"] == "mm" and pose["camera"]["fx"] == 200 and pose["camera"]["assumed"] is False
    assert pose["root_depth_mm"] == 4500 and pose["root_depth_assumed"] is True
    assert len(pose["joints"]) == 17 and pose["root_relative"]["pelvis"] == [0.0, 0.0, 0.0]
    assert abs(pose["joints"]["pelvis"][2] - 4500) < 2000  # the root sits near the assumed depth
    res = CliRunner().invoke(main, ["predict", str(image), "--checkpoint", str(path), "--out", str(out),
                                    "--joints", str(tmp_path / "pose.csv")])
    rows = (tmp_path / "pose.csv").read_text().splitlines()
    assert res.exit_code == 0 and len(rows) == 18 and rows[0].startswith("joint,x_mm,y_mm,z_mm")
    assert rows[1].startswith("head_top,") and rows[1].endswith(",4500.000,1,1")
    res = CliRunner().invoke(main, ["predict", str(image), "--checkpoint", str(path), "--joints", "p.txt"])
    assert res.exit_code != 0 and ".json or .csv" in res.output
    res = CliRunner().invoke(main, ["predict", str(image), "--checkpoint", str(path), "--box", "1,2,3"])
    assert res.exit_code != 0 and "x0,y0,x1,y1" in res.output


def test_cli_train_reports_errors_in_one_line(tmp_path):
    res = CliRunner().invoke(main, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o"), "--no-pretrained"])
    assert res.exit_code == 1 and "no prepared file for split 'trainval'" in res.output
    assert "--split train" in res.output and "Traceback" not in res.output
    res = CliRunner().invoke(main, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "--backbone-weights FILE" in res.output and "--no-pretrained" in res.output


def test_command_line_flags_are_read_as_booleans():
    from margipose.adapter import _flag

    assert _flag("true") and _flag("1") and not _flag("False") and not _flag(0)
    with pytest.raises(ValueError, match="true or false"):
        _flag("maybe")


def test_without_granted_depth_the_assumed_depth_is_used(run, data_tree):
    from types import SimpleNamespace

    from margipose.adapter import MargiPoseModel
    from posebench.data import read_prepared
    from posebench.evaluation import image_root, make_template

    _, path = run
    prepared = read_prepared(data_tree / "h36m" / "test.h5")
    batch = make_template("h36m", prepared)
    batch["image_root"] = image_root(prepared)
    batch["root_depth"] = batch["root_depth"] * 0 + 1.0  # would be absurd if it were used
    model = MargiPoseModel(protocol=SimpleNamespace(granted=()), checkpoint=str(path), assumed_depth=3000)
    pred = model.predict(batch)
    assert np.allclose(pred[:, 14, 2], 3000, rtol=0.5)


def test_train_options_are_the_dataclass_fields():
    import dataclasses

    from margipose.cli import train_command
    from margipose.model import MargiPoseConfig

    names = {p.name for p in train_command.params}
    fields = {f.name for f in dataclasses.fields(TrainOptions) if f.name != "model"}
    assert fields | {f.name for f in dataclasses.fields(MargiPoseConfig)} | {"resume"} == names - {"help"}
    workers = next(p for p in train_command.params if p.name == "workers")
    import os

    assert workers.default <= (os.cpu_count() or 1)


def test_backbone_weights_are_loaded_and_recorded(data_tree, tmp_path):
    from margipose.backbone import InceptionStem

    torch.manual_seed(1)
    stem = {k: torch.randn_like(v.float()).to(v.dtype) if v.dtype.is_floating_point else v
            for k, v in InceptionStem().state_dict().items()}
    weights = tmp_path / "inception_v4.pth"
    torch.save(stem, weights)
    out = tmp_path / "pre"
    path = train(_opts(data_tree, out, pretrained=True, backbone_weights=str(weights), lr_max=1e-9, augment=False))
    ckpt = load_checkpoint(path)
    assert ckpt["backbone"]["pretrained"] and ckpt["backbone"]["file"] == "inception_v4.pth"
    assert len(ckpt["backbone"]["sha256"]) == 64
    # conv weights are what the file held (a 1e-9 learning rate barely moves them)
    got = ckpt["model"]["backbone.stem.features.0.conv.weight"]
    assert torch.allclose(got, stem["features.0.conv.weight"], atol=1e-6)
    start = json.loads((out / "log.jsonl").read_text().splitlines()[0])
    assert start["event"] == "start" and start["backbone"]["pretrained"]
    with pytest.raises(TrainingError, match="contradict"):
        train(_opts(data_tree, tmp_path / "x", pretrained=False, backbone_weights=str(weights)))


def test_no_pretrained_is_explicit_and_recorded(run):
    out, path = run
    assert load_checkpoint(path)["backbone"] == {"pretrained": False}
    assert json.loads((out / "log.jsonl").read_text().splitlines()[0])["backbone"] == {"pretrained": False}


def test_trainval_reads_train_and_val(data_tree, tmp_path):
    import shutil

    from margipose.train import split_files

    data = tmp_path / "data"
    shutil.copytree(data_tree, data)
    assert [p.name for p in split_files(data, "mpi3dhp", "trainval")] == ["train.h5", "val.h5"]
    assert [p.name for p in split_files(data, "h36m", "trainval")] == ["train.h5"]
    with pytest.raises(TrainingError, match="val.h5"):
        train(_opts(data, tmp_path / "a", split="trainval"))
    shutil.copy(data / "mpi3dhp" / "train.h5", data / "mpi3dhp" / "val.h5")
    shutil.copy(data / "mpii" / "train.h5", data / "mpii" / "val.h5")
    ckpt = load_checkpoint(train(_opts(data, tmp_path / "b", split="trainval")))
    assert set(ckpt["data"]) == {"mpi3dhp/train.h5", "mpi3dhp/val.h5", "mpii/train.h5", "mpii/val.h5"}


def test_a_config_asking_for_a_huge_model_is_refused_before_anything_is_built(tmp_path):
    """channels=10**9 with small stored weights: the shapes are compared on the meta device, nothing allocated."""
    import resource

    save_checkpoint(tmp_path / "c.pt", MargiPose(**TINY))
    ckpt = load_checkpoint(tmp_path / "c.pt")
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    ckpt["config"]["channels"] = 10 ** 5  # 10**10 weights in one 3x3 convolution: 40 GB if it were built
    with pytest.raises(CheckpointError, match=r"weights do not match the stored config \(.* is \[\d+, \d+, 1, 1\], "
                                              r"the config's model has \[100000, "):
        model_from_checkpoint(ckpt, "c.pt")
    ckpt["config"]["channels"] = 10 ** 9  # a size whose storage overflows
    with pytest.raises(CheckpointError, match="the stored config describes no buildable model"):
        model_from_checkpoint(ckpt, "c.pt")
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200_000  # KB: nothing of that size made
    ckpt["config"]["channels"] = TINY["channels"]
    ckpt["model"]["extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match="holds an unexpected 'extra.weight'"):
        model_from_checkpoint(ckpt, "c.pt")
