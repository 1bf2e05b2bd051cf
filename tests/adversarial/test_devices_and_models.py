"""Device names and model options are checked before any data is read or weights are loaded."""
from __future__ import annotations

import sys
import types

import pytest

from posebench.devices import DeviceError, check_device
from tests.adversarial.conftest import cli, one_line_error, tree


@pytest.mark.clear_error
@pytest.mark.parametrize("device,fragment", [
    ("bogus", "unknown device 'bogus'"),
    ("cdua", "did you mean 'cuda'?"),
    ("cuda:x", "unknown device 'cuda:x'"),
    ("cpu:1", "the CPU has no index 1"),
])
def test_a_bad_device_name_is_one_line(world, device, fragment):
    before = tree(world.root)
    one_line_error(cli("evaluate", "-p", "h36m", "-d", world.data, "--model", "mean-pose", "--device", device,
                       "--results-dir", world.path("results")), fragment)
    assert tree(world.root) == before


def _fake_torch(monkeypatch, n_cuda: int) -> None:
    cuda = types.SimpleNamespace(is_available=lambda: n_cuda > 0, device_count=lambda: n_cuda)
    fake = types.SimpleNamespace(cuda=cuda, xpu=None, backends=types.SimpleNamespace(mps=None), __version__="x")
    monkeypatch.setitem(sys.modules, "torch", fake)


@pytest.mark.clear_error
def test_cuda_without_a_gpu_is_one_line(world, monkeypatch):
    _fake_torch(monkeypatch, 0)
    one_line_error(cli("evaluate", "-p", "h36m", "-d", world.data, "--model", "mean-pose", "--device", "cuda",
                       "--no-save"), "device 'cuda': no CUDA GPU is available here", "use --device cpu")


@pytest.mark.correct_result
def test_devices_that_exist_pass_and_indices_are_bounded(monkeypatch):
    _fake_torch(monkeypatch, 1)
    assert check_device("cuda") == "cuda" and check_device("cuda:0") == "cuda:0"
    assert check_device("cpu") == "cpu" and check_device(None) is None
    with pytest.raises(DeviceError, match=r"only 1 cuda device\(s\) here \(cuda:0..cuda:0\)"):
        check_device("cuda:1")
    with pytest.raises(DeviceError, match="no Apple GPU"):
        check_device("mps")


@pytest.mark.clear_error
@pytest.mark.parametrize("fields,fragment", [
    ({"version": "abc", "config": {}}, "'version' must be a positive integer, got str 'abc'"),
    ({"version": True, "config": {}}, "'version' must be a positive integer, got bool True"),
    ({"config": {}}, "'version' must be a positive integer, got nothing"),
    ({"version": 1, "config": [1, 2]}, "'config' must be a dict of model options, got list [1, 2]"),
    ({"version": 1}, "'config' must be a dict of model options, got nothing"),
    ({"version": 1, "config": {}, "model": [1]}, "'model' must be a dict of named tensors, got list [1]"),
    ({"version": 1, "config": {}, "model": {"w": 1.5}}, "entry 'w' is float 1.5"),
    ({"version": 1, "config": {1: 2}}, "unknown MargiPose option(s) 1"),
    ({"version": 1, "config": {"stages": "x"}}, "stages must be an integer, got str 'x'"),
    ({"version": 1, "config": {"stages": True}}, "stages must be an integer, got bool True"),
    ({"version": 1, "config": {"stages": 2.0}}, "stages must be an integer, got float 2.0"),
    ({"version": 1, "config": {"stages": -2}}, "stages must be >= 1, got -2"),
    ({"version": 1, "config": {"stages": 10 ** 9}}, "stages=1000000000 but its weights hold 0 stage(s)"),
    ({"version": 1, "config": {"channels": "128"}}, "channels must be an integer, got str '128'"),
    ({"version": 1, "config": {"joints": 0}}, "joints must be >= 1, got 0"),
    ({"version": 1, "config": {"heatmap_size": [64]}}, "heatmap_size must be an integer or None, got list [64]"),
    ({"version": 1, "config": {"axis_permutation": 1}}, "axis_permutation must be true or false, got int 1"),
    ({"version": 1, "config": {"jsd": "yes"}}, "jsd must be true or false, got str 'yes'"),
    ({"version": 1, "config": {"sigma": {"a": {"b": 1}}}}, "sigma must be a finite number, got dict {'a': {'b': 1}}"),
    ({"version": 1, "config": {"sigma": float("nan")}}, "sigma must be a finite number, got float nan"),
    ({"version": 1, "config": {"head": 3}}, "head must be a string, got int 3"),
    ({"version": 1, "config": {"normalisation": "none"}}, "normalisation must be one of imagenet, inception"),
])
def test_checkpoints_with_wrongly_typed_fields_are_one_line(world, fields, fragment):
    torch = pytest.importorskip("torch")
    from margipose.checkpoint import FORMAT

    path = world.path("bad.pth")
    torch.save({"format": FORMAT, "model": {}, **fields}, path)
    out = cli("evaluate", "-p", "h36m", "-d", world.data, "--model", "margipose", "--checkpoint", path, "--no-save")
    one_line_error(out, str(path), fragment)
