"""Untrusted files stay data: a checkpoint carrying code is refused, and the code never runs."""
from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch

from margipose.backbone import WeightsError
from margipose.checkpoint import CheckpointError, load_checkpoint
from margipose.safeload import safe_load
from posebench.predictions import PredictionsError, read_predictions

RAN = []


class _Payload:
    def __reduce__(self):
        return (RAN.append, ("code ran",))


def test_a_pickled_object_in_a_checkpoint_is_refused_without_running(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "margipose", "model": _Payload()}, path)
    with pytest.raises(CheckpointError, match="not a readable checkpoint"):
        load_checkpoint(path)
    with pytest.raises(WeightsError, match="not a readable backbone weights"):
        safe_load(path, WeightsError, "backbone weights")
    assert RAN == []
    (tmp_path / "raw.pkl").write_bytes(pickle.dumps(_Payload(), protocol=2))
    with pytest.raises(CheckpointError):
        load_checkpoint(tmp_path / "raw.pkl")
    assert RAN == []


def test_predictions_with_object_arrays_are_refused(tmp_path):
    path = tmp_path / "p.npz"
    np.savez(path, joints3d=np.array([_Payload()], dtype=object), index=np.arange(1))
    with pytest.raises(PredictionsError, match="'joints3d' has type object.*docs/contracts.md"):
        read_predictions(path)  # never unpickled: a plain predictions .npz holds numbers only
    assert RAN == []
