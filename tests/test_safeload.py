"""The data-only pickle loader: plain data comes back equal; anything that would run code is refused and never runs."""
from __future__ import annotations

import collections
import os
import pickle

import numpy as np
import pytest

import posebench
from posebench.predictions import PredictionsError
from posebench.safeload import UnsafePickleError, load_npz, load_pickle, loads_data


class _Payload:
    """Unpickling this with an ordinary loader creates the marker file (runs os.system)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


class _EvalPayload:
    def __reduce__(self):
        return (eval, ("__import__('os').getcwd()",))


def test_plain_data_round_trips_in_every_protocol():
    obj = {"preds": np.arange(51, dtype=np.float32).reshape(1, 17, 3), "paths": ["a.jpg"], "n": 3,
           "x": np.float64(2.5), "t": (1, "b"), "od": collections.OrderedDict(a=1)}
    for protocol in range(2, pickle.HIGHEST_PROTOCOL + 1):
        back = loads_data(pickle.dumps(obj, protocol=protocol))
        np.testing.assert_array_equal(back["preds"], obj["preds"])
        assert back["preds"].dtype == np.float32
        assert back["paths"] == ["a.jpg"] and back["n"] == 3 and back["x"] == 2.5 and back["t"] == (1, "b")
        assert back["od"] == {"a": 1}


@pytest.mark.parametrize("protocol", [0, 2, pickle.HIGHEST_PROTOCOL])
def test_a_payload_is_refused_and_never_runs(tmp_path, protocol):
    marker = tmp_path / "ran"
    blob = pickle.dumps({"preds": [_Payload(marker)]}, protocol=protocol)
    pickle.loads(pickle.dumps(1))  # (the standard loader works here; only the payload is special)
    with pytest.raises(UnsafePickleError, match=r"refusing to build (posix|nt)\.system"):
        loads_data(blob)
    assert not marker.exists()
    with pytest.raises(UnsafePickleError, match=r"refusing to build builtins\.eval"):
        loads_data(pickle.dumps(_EvalPayload(), protocol=protocol))
    # control: the ordinary loader does run it, so the payload is real
    pickle.loads(blob)
    assert marker.exists()


def test_payload_in_an_npz_object_array_and_an_mmpose_pickle_never_runs(tmp_path):
    marker = tmp_path / "ran"
    npz = tmp_path / "p.npz"
    np.savez(npz, positions_3d=np.array({"S9": _Payload(marker)}, dtype=object))
    with pytest.raises(UnsafePickleError, match="refusing to build"):
        load_npz(npz)
    pkl = tmp_path / "results.pkl"
    pkl.write_bytes(pickle.dumps([{"preds": np.zeros((1, 17, 3)), "x": _Payload(marker)}]))
    with pytest.raises(UnsafePickleError):
        load_pickle(pkl)
    from tests.test_importers import _h36m_data

    data = _h36m_data(t=3)
    for path in (npz, pkl):
        with pytest.raises(PredictionsError, match="refusing to build .*docs/contracts.md"):
            posebench.evaluate(path, "h36m-lifting", data)
    assert not marker.exists()


def test_tricks_with_the_allowed_names_are_refused():
    # numpy.ndarray stands for itself only inside _reconstruct: calling it is refused
    nd_call = b"\x80\x02cnumpy\nndarray\nK\x03\x85R."
    with pytest.raises(UnsafePickleError):
        loads_data(nd_call)
    # an object the checker does not know (a bare `object()` via copyreg-free BUILD tricks) never comes back
    with pytest.raises(UnsafePickleError):
        loads_data(b"\x80\x02cbuiltins\nobject\n)R.")
    with pytest.raises(UnsafePickleError, match="not a readable data pickle"):
        loads_data(b"\x80\x02}q\x00(X")  # truncated


def test_plain_npz_members_read_like_numpy(tmp_path):
    path = tmp_path / "a.npz"
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    np.savez_compressed(path, a=a, f=np.asfortranarray(a.astype(np.float64)), s=np.array(["x", "yz"]))
    z = load_npz(path)
    for k in ("a", "f", "s"):
        with np.load(path) as ref:
            np.testing.assert_array_equal(z[k], ref[k])
            assert z[k].dtype == ref[k].dtype
