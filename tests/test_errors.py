"""Every error class posebench and margipose define derives from PosebenchError: the CLIs print each as one line."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import margipose
import posebench
from posebench.errors import PosebenchError


def test_every_error_class_derives_from_posebench_error():
    found, stray = [], []
    packages = [*pkgutil.walk_packages(posebench.__path__, "posebench."),
                *pkgutil.walk_packages(margipose.__path__, "margipose.")]
    for info in packages:
        if info.name in ("posebench._pa_numba", "margipose._pixels_numba"):  # compiled kernels; optional numba
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, Exception) and not issubclass(obj, Warning)
                    and obj.__module__ == module.__name__):
                (found if issubclass(obj, PosebenchError) else stray).append(f"{module.__name__}.{name}")
    assert stray == []
    assert len(found) >= 30
