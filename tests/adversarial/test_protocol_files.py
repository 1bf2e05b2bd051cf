"""Hostile protocol files: every key typed, names plain, and `protocols validate` == what loading checks."""
from __future__ import annotations

import pytest

from tests.adversarial.conftest import HONEST_MPJPE, cli, one_line_error, tree

BASE = '''name = "mine"
version = 1
title = "my protocol"
description = "d"
citation = "c"
dataset = "h36m"
split = "test"
labels = []
aliases = ["mine-alias"]
breakdowns = ["action"]
cluster = "take"

[selection]
subjects = [9, 11]
frame_stride = 64
valid_only = false
exclude = [{ subject = 11, sequence = "Directions", camera = 54138969, reason = "corrupt" }]

[[metrics]]
name = "mpjpe"

[[metrics]]
name = "pck"
threshold = 150
'''

# (what the file says instead, fragments of the one-line error)
BAD = [
    (('valid_only = false', 'valid_only = "false"'), ["valid_only must be a boolean", "'false'"]),
    (('subject = 11,', 'subject = "11",'), ["subject must be an integer", "'11'"]),
    (('subjects = [9, 11]', 'subjects = "11"'), ["subjects must be a list", "'11'"]),
    (('subjects = [9, 11]', 'subjects = [9, "11"]'), ["subjects[1] must be an integer"]),
    (('labels = []', 'labels = "corrected"'), ["labels must be a list", "'corrected'"]),
    (('aliases = ["mine-alias"]', 'aliases = "h36m"'), ["aliases must be a list", "'h36m'"]),
    (('frame_stride = 64', 'frame_stride = 64.9'), ["frame_stride must be an integer", "64.9"]),
    (('frame_stride = 64', 'frame_stride = true'), ["frame_stride must be an integer", "True"]),
    (('frame_stride = 64', 'frame_stride = 0'), ["frame_stride must be >= 1"]),
    (('version = 1', 'version = "abc"'), ["version must be an integer", "'abc'"]),
    (('version = 1', 'version = 0'), ["version must be >= 1"]),
    (('cluster = "take"\n', 'cluster = "take"\nmetrics = []\n'), ["metrics is empty"]),
    (('cluster = "take"\n', 'cluster = "take"\nmetrics = [1, 2]\n'), ["every [[metrics]] entry must be a table"]),
    (('threshold = 150', 'threshold = "x"'), ["threshold must be a number", "'x'"]),
    (('threshold = 150', 'threshold = -5'), ["thresholds must be finite and >= 0"]),
    (('threshold = 150', 'threshold = inf'), ["thresholds must be finite and >= 0"]),
    (('threshold = 150', 'thresholds = []'), ["thresholds is empty"]),
    (('threshold = 150', 'thresholds = [50, 10]'), ["increasing"]),
    (('name = "mine"', 'name = "../../escape"'), ["protocol name '../../escape' must be a plain name"]),
    (('name = "mine"', 'name = "Mine"'), ["must be a plain name"]),
    (('name = "mine"', 'name = 7'), ["name must be a string"]),
    (('dataset = "h36m"', 'dataset = "../h36m"'), ["dataset '../h36m' must be a plain name"]),
    (('split = "test"', 'split = "test/../../x"'), ["split", "must be a plain name"]),
    (('labels = []', 'labels = ["../x"]'), ["label release '../x' must be a plain name"]),
    (('breakdowns = ["action"]', 'breakdowns = ["actoin"]'), ["breakdown 'actoin'", "did you mean 'action'"]),
    (('cluster = "take"', 'cluster = "tak"'), ["cluster 'tak'", "did you mean 'take'"]),
    (('name = "pck"', 'name = "pkc"'), ["metric 'pkc'", "did you mean 'pck'"]),
    (('title = "my protocol"', 'title = ["a"]'), ["title must be a string"]),
    (('exclude = [{ subject = 11, sequence = "Directions", camera = 54138969, reason = "corrupt" }]',
      'exclude = [{ reason = "everything" }]'), ["names no subject, sequence, camera or action"]),
    (('exclude = [{ subject = 11, sequence = "Directions", camera = 54138969, reason = "corrupt" }]',
      'exclude = { subject = 11, reason = "x" }'), ["exclude must be a list"]),
    (('[selection]', 'selection = 5\n[unused]'), ["unknown key 'unused'"]),
    (('name = "pck"\n', 'name = "pck"\njoints = 5\n'), ["joints must be a joint set name or a list"]),
    (('name = "pck"\n', 'name = "pck"\njoints = [true]\n'), ["joints must be a joint set name or a list"]),
]


def _write(world, text: str, name: str = "mine.toml"):
    path = world.path(name)
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.correct_result
def test_the_base_file_is_valid_and_scores(world):
    """The control: the unmutated file validates and scores the honest predictions correctly."""
    path = _write(world, BASE)
    out = cli("protocols", "validate", path)
    assert out.code == 0 and out.output.startswith("ok  mine v1"), out.output
    out = cli("evaluate", "-p", path, "-d", world.data, "--predictions", world.preds, "--format", "json",
              "--results-dir", world.path("results"))
    assert out.code == 0, out.output
    assert f'"mpjpe": {HONEST_MPJPE:.6f}'[:16] in out.output


@pytest.mark.clear_error
@pytest.mark.parametrize("change,fragments", BAD, ids=[b[0][1][:40] for b in BAD])
def test_a_loosely_typed_or_unsafe_protocol_is_refused_by_validate_and_by_evaluate(world, change, fragments):
    old, new = change
    assert old in BASE
    text = BASE.replace(old, new, 1)
    if "metrics = [" in new:  # an inline list replaces the [[metrics]] tables
        text = text[:text.index("[[metrics]]")]
    path = _write(world, text)
    before = tree(world.root)
    one_line_error(cli("protocols", "validate", path), str(path), *fragments)
    one_line_error(cli("evaluate", "-p", path, "-d", world.data, "--predictions", world.preds,
                       "--results-dir", world.path("results")), *fragments)
    assert tree(world.root) == before  # nothing written, in or outside --results-dir
    assert not (world.root.parent / "escape").exists()


@pytest.mark.clear_error
def test_a_user_protocol_cannot_take_a_shipped_name(world):
    folder = world.path("mine")
    folder.mkdir()
    _write(world, BASE.replace('name = "mine"', 'name = "h36m"'), "mine/h36m.toml")
    env = {"POSEBENCH_PROTOCOLS": str(folder)}
    for args in (("protocols", "validate"), ("evaluate", "-p", "h36m", "-d", world.data, "--predictions", world.preds,
                                              "--no-save")):
        one_line_error(cli(*args, env=env), "protocol name or alias 'h36m' is already defined by",
                       "posebench.protocols_data/h36m.toml")


@pytest.mark.clear_error
def test_a_protocol_file_that_is_not_utf8_is_one_error(world):
    path = world.path("bad.toml")
    path.write_bytes(b'name = "\xff\xfe"\n')
    one_line_error(cli("protocols", "validate", path), "cannot read protocol")


@pytest.mark.clear_error
def test_a_stored_protocol_echo_of_the_wrong_shape_is_a_protocol_error():
    from posebench.protocols import Protocol, ProtocolError, load_protocol

    echo = load_protocol("h36m").to_dict()
    echo["metrics"] = [1, 2]
    with pytest.raises(ProtocolError, match="stored protocol echo is malformed"):
        Protocol.from_dict(echo)
