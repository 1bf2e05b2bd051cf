"""The lazy command group: every command loads, and a command that cannot load says why instead of crashing."""
from __future__ import annotations

from click.testing import CliRunner

from posebench import cli


def test_every_command_loads_and_has_help():
    runner = CliRunner()
    for name in cli.COMMANDS:
        r = runner.invoke(cli.main, [name, "--help"])
        assert r.exit_code == 0, (name, r.output)
        assert "unavailable" not in r.output


def test_an_unloadable_command_reports_its_reason(monkeypatch):
    monkeypatch.setitem(cli.COMMANDS, "broken", "posebench.no_such_module:cmd")
    r = CliRunner().invoke(cli.main, ["broken"])
    assert r.exit_code == 1
    assert "broken is unavailable: No module named 'posebench.no_such_module'" in r.output


def test_a_posebench_error_from_any_command_is_one_line(monkeypatch, tmp_path):
    import click

    from posebench.errors import PosebenchError

    @click.command("boom")
    def boom() -> None:
        raise PosebenchError("the file is not a prepared file: run `posebench prepare` first")

    import sys
    import types
    module = types.ModuleType("posebench_test_boom")
    module.boom = boom
    monkeypatch.setitem(sys.modules, "posebench_test_boom", module)
    monkeypatch.setitem(cli.COMMANDS, "boom", "posebench_test_boom:boom")
    r = CliRunner().invoke(cli.main, ["boom"])
    assert r.exit_code == 1
    assert r.output == "Error: the file is not a prepared file: run `posebench prepare` first\n"
    assert r.exception is None or isinstance(r.exception, SystemExit)


def test_every_error_class_derives_from_posebench_error():
    import importlib
    import inspect
    import pkgutil

    import posebench
    from posebench.errors import PosebenchError

    found = []
    for info in pkgutil.walk_packages(posebench.__path__, "posebench."):
        if info.name.startswith(("posebench.sample", "posebench.cli")):
            continue  # sample/ is being split in its own branch; cli modules hold no error classes
        module = importlib.import_module(info.name)
        for name, obj in vars(module).items():
            if inspect.isclass(obj) and issubclass(obj, Exception) and not issubclass(obj, Warning) \
                    and obj.__module__ == info.name:
                found.append(obj)
                assert issubclass(obj, PosebenchError), obj
                assert issubclass(obj, ValueError), obj  # code that caught ValueError keeps working
    assert len(found) >= 24
