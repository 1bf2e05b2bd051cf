"""Every error class posebench defines derives from PosebenchError, so the CLI prints each as one line."""
from __future__ import annotations

import importlib
import inspect
import pkgutil

import posebench
from posebench.errors import PosebenchError


def test_every_posebench_error_class_derives_from_posebench_error():
    found, stray = [], []
    for info in pkgutil.walk_packages(posebench.__path__, "posebench."):
        if info.name == "posebench._pa_numba":  # compiled kernels only; needs the optional numba
            continue
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if (inspect.isclass(obj) and issubclass(obj, Exception) and not issubclass(obj, Warning)
                    and obj.__module__ == module.__name__):
                (found if issubclass(obj, PosebenchError) else stray).append(f"{module.__name__}.{name}")
    assert stray == []
    assert len(found) >= 25
