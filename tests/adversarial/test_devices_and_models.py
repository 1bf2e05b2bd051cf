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
    pytest.param({"version": "abc", "config": {}}, "version", marks=pytest.mark.xfail(
        strict=True, reason="margipose/checkpoint.py (margipose helper): the message does not name the field")),
    pytest.param({"version": 1, "config": [1, 2]}, "config", marks=pytest.mark.xfail(
        strict=True, reason="margipose/checkpoint.py (margipose helper): a list config is a traceback")),
    pytest.param({"version": 1, "config": {"stages": "x"}}, "stages", marks=pytest.mark.xfail(
        strict=True, reason="margipose/config (margipose helper): a string where an int belongs is a traceback")),
])
def test_checkpoints_with_wrongly_typed_fields_are_one_line(world, fields, fragment):
    torch = pytest.importorskip("torch")
    from margipose.checkpoint import FORMAT

    path = world.path("bad.pth")
    torch.save({"format": FORMAT, "model": {}, **fields}, path)
    out = cli("evaluate", "-p", "h36m", "-d", world.data, "--model", "margipose", "--checkpoint", path, "--no-save")
    one_line_error(out, str(path), fragment)
