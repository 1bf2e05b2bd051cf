"""The examples in the docstrings of the public array modules run and give what they show."""
from __future__ import annotations

import doctest
import importlib

import pytest


@pytest.mark.parametrize("name", ["posebench.metrics", "posebench.align"])
def test_docstring_examples_pass(name: str) -> None:
    module = importlib.import_module(name)
    outcome = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert outcome.attempted >= 3, f"{name} should show its use in examples"
    assert outcome.failed == 0
