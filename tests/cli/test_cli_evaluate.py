"""`posebench evaluate` / `posebench protocols` from the command line."""
from __future__ import annotations

import json

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

from posebench.cli import main
from posebench.data import write_prepared
from posebench.predictions import write_predictions


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(0)
    n = 256
    base = rng.normal(0, 250, size=(1, 17, 3))
    gt = base + rng.normal(0, 20, size=(n, 17, 3)) + [0, 0, 4500.0]
    write_prepared(root / "h36m" / "test.h5", dict(
        joints3d=gt, joints2d=rng.uniform(0, 100, (n, 17, 2)), intrinsics=np.tile([100.0, 100, 50, 50], (n, 1)),
        subject=np.repeat([9, 11], n // 2), camera=np.tile([54138969, 55011271], n // 2), frame=np.arange(n) // 2 * 8,
        action=np.repeat(["Walking", "Directions"], n // 2), sequence=np.repeat(["Walking 1", "Directions"], n // 2),
        image=np.full(n, "")), {"dataset": "h36m", "split": "test"})
    return root


def test_template_then_predictions_report_the_noise(data_dir, tmp_path):
    runner = CliRunner()
    tpl = tmp_path / "tpl.h5"
    r = runner.invoke(main, ["evaluate", "-p", "h36m", "--data", str(data_dir), "--template", str(tpl)])
    assert r.exit_code == 0, r.output
    with h5py.File(tpl) as f:
        assert "joints3d" not in f and set(f) >= {"index", "image", "intrinsics", "joints2d", "box", "root_depth"}
        index = f["index"][()]
    with h5py.File(data_dir / "h36m" / "test.h5") as f:
        gt = f["joints3d"][()].astype(np.float64)[index]
    pred = gt.copy()
    pred[:, :14] += [3.0, 4.0, 0.0]  # 5 mm on the 14 joints before the pelvis, which stays put
    pred[:, 15:] += [3.0, 4.0, 0.0]
    write_predictions(tmp_path / "p.h5", pred, index)
    r = runner.invoke(main, ["evaluate", "-p", "h36m", "--data", str(data_dir), "--predictions",
                             str(tmp_path / "p.h5"), "--format", "json", "--results-dir", str(tmp_path / "res")])
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["summary"]["mpjpe"] == pytest.approx(5.0 * 16 / 17, abs=1e-4)  # float32 storage
    assert out["summary"]["pck"] == pytest.approx(100.0) and out["units"]["pck"] == "%"
    assert len(list((tmp_path / "res" / "runs").glob("*.json"))) == 1


def test_bad_input_is_one_line_and_writes_nothing(data_dir, tmp_path):
    with h5py.File(data_dir / "h36m" / "test.h5") as f:
        gt = f["joints3d"][()].astype(np.float64)
    index = np.arange(0, len(gt))
    write_predictions(tmp_path / "m.h5", gt / 1000.0, index)
    r = CliRunner().invoke(main, ["evaluate", "-p", "h36m", "--data", str(data_dir), "--predictions",
                                  str(tmp_path / "m.h5"), "--results-dir", str(tmp_path / "res")])
    assert r.exit_code == 1
    assert "looks like metres" in r.output and r.output.count("\n") == 1
    assert not (tmp_path / "res").exists()


def test_protocols_commands():
    r = CliRunner().invoke(main, ["protocols", "list"])
    assert r.exit_code == 0 and "mpi3dhp-corrected" in r.output and "h36m-lifting" in r.output
    r = CliRunner().invoke(main, ["protocols", "show", "mpi3dhp-uncorrected"])
    assert json.loads(r.output)["name"] == "mpi3dhp"
    r = CliRunner().invoke(main, ["protocols", "validate"])
    assert r.exit_code == 0 and r.output.count("ok ") >= 5
    r = CliRunner().invoke(main, ["protocols", "show", "mpi3dhp-corected"])
    assert r.exit_code == 1 and "did you mean 'mpi3dhp-corrected'" in r.output


def test_model_options_reach_the_model(data_dir, tmp_path):
    (data_dir / "h36m" / "train.h5").write_bytes((data_dir / "h36m" / "test.h5").read_bytes())
    r = CliRunner().invoke(main, ["evaluate", "-p", "h36m", "--data", str(data_dir), "--model", "mean-pose",
                                  "--model-option", "no-such-option=1", "--no-save"])
    assert r.exit_code != 0 and "no_such_option" in r.output
    r = CliRunner().invoke(main, ["evaluate", "-p", "h36m", "--data", str(data_dir), "--model", "mean-pose",
                                  "--model-option", "oops", "--no-save"])
    assert r.exit_code == 2 and "expected KEY=VALUE" in r.output
