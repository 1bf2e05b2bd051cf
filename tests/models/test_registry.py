"""The model registry: entry points by name, refusals that name what exists, and the Model interface check."""
from __future__ import annotations

from importlib.metadata import entry_points

import numpy as np
import pytest

from posebench.errors import PosebenchError
from posebench.models import (GROUP, Model, ModelNotFoundError, ModelOptionError, create_model, list_models)
from posebench.models.baselines import MeanPose, NearestNeighbour


def test_the_baselines_are_registered_from_the_models_package():
    eps = {ep.name: ep for ep in entry_points(group=GROUP)}
    assert eps["mean-pose"].value == "posebench.models.baselines:MeanPose"
    assert eps["nearest-neighbour"].value == "posebench.models.baselines:NearestNeighbour"
    assert eps["mean-pose"].load() is MeanPose and eps["nearest-neighbour"].load() is NearestNeighbour
    assert {"mean-pose", "nearest-neighbour"} <= set(list_models())
    assert list_models() == sorted(list_models())


def test_an_unknown_name_lists_the_registered_models():
    with pytest.raises(ModelNotFoundError, match=r"no model named 'nope'; registered: .*mean-pose") as e:
        create_model("nope")
    assert isinstance(e.value, LookupError) and isinstance(e.value, PosebenchError)


def test_an_unknown_option_names_the_options_the_model_takes():
    with pytest.raises(ModelOptionError, match=r"model 'mean-pose' takes no option colour \(its options: .*\)"):
        create_model("mean-pose", colour="red")
    assert issubclass(ModelOptionError, PosebenchError)


def test_the_model_interface_is_structural():
    class Fake:
        name = "fake"

        def predict(self, batch):
            return np.zeros((len(batch["index"]), 17, 3))

    class NotAModel:
        name = "nope"

    assert isinstance(Fake(), Model)
    assert not isinstance(NotAModel(), Model)
