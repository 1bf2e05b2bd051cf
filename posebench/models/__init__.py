"""The model interface and registry: models register under the `posebench.models` entry-point group.

posebench never imports a model package directly (margipose registers itself from its own package).
"""
from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any, Protocol as TypingProtocol, runtime_checkable

import numpy as np

from posebench.errors import PosebenchError

GROUP = "posebench.models"


@runtime_checkable
class Model(TypingProtocol):
    """What `posebench evaluate --model` needs: a name and batched camera-space predictions in mm."""

    name: str

    def predict(self, batch: dict[str, Any]) -> np.ndarray:
        """(B,17,3) camera-space mm for the template rows in ``batch`` (see docs/contracts.md)."""
        ...


class ModelOptionError(PosebenchError):
    """A model was given an option it does not take."""


def _check_options(name: str, cls: type, kwargs: dict[str, Any]) -> None:
    import inspect

    params = inspect.signature(cls).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return  # the model validates its own options
    unknown = sorted(set(kwargs) - set(params))
    if unknown:
        known = [k for k in params if k not in ("protocol", "data", "checkpoint", "device")]
        raise ModelOptionError(f"model {name!r} takes no option {', '.join(unknown)} "
                               f"(its options: {', '.join(known) or 'none'})")


class ModelNotFoundError(PosebenchError, LookupError):
    """No model is registered under the requested name."""


def list_models() -> list[str]:
    """Names of the registered models."""
    return sorted({ep.name for ep in entry_points(group=GROUP)})


def create_model(name: str, **kwargs: Any) -> Model:
    """Instantiate a registered model: ``cls(protocol=..., data=..., checkpoint=..., device=..., **options)``."""
    for ep in entry_points(group=GROUP):
        if ep.name == name:
            cls = ep.load()
            _check_options(name, cls, kwargs)
            model = cls(**kwargs)
            if not isinstance(model, Model):
                raise TypeError(f"model {name!r} ({ep.value}) has no name/predict")
            return model
    raise ModelNotFoundError(f"no model named {name!r}; registered: {', '.join(list_models()) or 'none'}")
