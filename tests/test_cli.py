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
