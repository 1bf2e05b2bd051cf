import json

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from margipose.checkpoint import CheckpointError, load_checkpoint, model_from_checkpoint, save_checkpoint
from margipose.cli import main
from margipose.train import TrainingError, TrainOptions, one_cycle, train

TINY = {"stages": 2, "channels": 16, "mid_channels": 16, "input_size": 64}


def _opts(data, out, **kw):
    base = dict(data=str(data), out=str(out), dataset="mpi3dhp", epochs=1, samples_per_epoch=8, batch_size=4,
                lr_max=0.1, workers=0, progress=False, model=dict(TINY))
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
    with pytest.raises(TrainingError, match="no prepared training file"):
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
    res = CliRunner().invoke(main, ["predict", str(image), "--checkpoint", str(path), "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert out.stat().st_size > 1000
    res = CliRunner().invoke(main, ["predict", str(image), "--checkpoint", str(path), "--box", "1,2,3"])
    assert res.exit_code != 0 and "x0,y0,x1,y1" in res.output


def test_cli_train_reports_errors_in_one_line(tmp_path):
    res = CliRunner().invoke(main, ["train", "--data", str(tmp_path), "--out", str(tmp_path / "o")])
    assert res.exit_code == 1 and "no prepared training file" in res.output and "Traceback" not in res.output


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
