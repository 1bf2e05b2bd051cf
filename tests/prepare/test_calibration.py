"""Calibration parsers: official values, and fuzzed files give a CalibrationError or the exact same cameras."""
from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from posebench.prepare.calibration import CalibrationError, read_camera_calibration, read_tc_calibration

FUZZ = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])

# S1/Seq1 camera 0 as published (raw-formats.md §2), then a second camera.
SKELETOOL = """Skeletool Camera Calibration File V1.0
name          0
  sensor      10 10
  size        2048 2048
  animated    0
  intrinsic   1497.693 0 1024.704 0 0 1497.103 1051.394 0 0 0 1 0 0 0 0 1 
  extrinsic   0.9650164 0.00488022 0.262144 -562.8666 -0.004488356 -0.9993728 0.0351275 1398.138 0.262151 -0.03507521 -0.9643893 3852.623 0 0 0 1 
  radial      0
name          1
  sensor      10 10
  size        2048 2048
  animated    0
  intrinsic   1495.587 0 983.8873 0 0 1497.828 987.5691 0 0 0 1 0 0 0 0 1 
  extrinsic   1 0 0 0 0 1 0 0 0 0 1 0 0 0 0 1 
  radial      0
"""


def test_official_test_calibration(testdata):
    ts14 = read_tc_calibration(testdata / "mpi3dhp" / "ts1-4cameras.calib")[0]
    np.testing.assert_allclose(ts14.intrinsics(2048, 2048), (1500.172, 1500.832, 1017.387, 1043.032), atol=1e-3)
    assert ts14.distortion == (0.0,) * 5
    ts56 = read_tc_calibration(testdata / "mpi3dhp" / "ts5-6cameras.calib")[0]
    fx, fy, cx, cy = ts56.intrinsics(1920, 1080)
    np.testing.assert_allclose((fx, cx, cy), (1683.983, 939.858, 560.141), atol=1e-3)
    assert fy == pytest.approx(fx * 0.993236423)
    assert ts56.distortion[0] == pytest.approx(-0.276859611)
    # intrinsics scale linearly with the stored image size
    np.testing.assert_allclose(ts56.intrinsics(96, 54), np.array((fx, fy, cx, cy)) / 20, rtol=1e-12)


def test_skeletool(tmp_path):
    p = tmp_path / "camera.calibration"
    p.write_text(SKELETOOL)
    cams = read_camera_calibration(p)
    assert set(cams) == {0, 1}
    assert cams[0].intrinsics == (1497.693, 1497.103, 1024.704, 1051.394)
    assert cams[0].size == (2048, 2048)
    assert cams[0].extrinsic[2, 3] == 3852.623


@pytest.mark.parametrize("bad, msg", [
    ("Skeletool Camera Calibration File V1.0\n  size 2 2\n", "before the first 'name'"),
    (SKELETOOL.replace("name          1\n", ""), "appears twice in camera 0"),
    (SKELETOOL.replace("1497.693 0", "1497.693 x"), "non-number"),
    (SKELETOOL.replace("-0.9993728", "-1.9993728"), "not a rigid transform"),
    (SKELETOOL.replace("2048 2048", "2048 -5", 1), "not a positive integer size"),
    ("hello\n", "expected the header"),
    (SKELETOOL.replace("  intrinsic   1495.587 0 983.8873 0 0 1497.828 987.5691 0 0 0 1 0 0 0 0 1 \n", ""), "lacks intrinsic"),
])
def test_skeletool_errors(tmp_path, bad, msg):
    p = tmp_path / "camera.calibration"
    p.write_text(bad)
    with pytest.raises(CalibrationError, match=msg):
        read_camera_calibration(p)


def _mutations(text: str):
    """Strategies for damaged copies: truncated, a line dropped, a token dropped or duplicated."""
    lines = text.split("\n")
    trunc = st.integers(0, len(text) - 1).map(lambda k: text[:k])
    drop_line = st.integers(0, len(lines) - 1).map(lambda i: "\n".join(lines[:i] + lines[i + 1:]))

    def token_edit(i: int, j: int, dup: bool) -> str:
        toks = lines[i].split()
        if toks:
            j %= len(toks)
            if dup:
                toks.insert(j, toks[j])
            else:
                del toks[j]
        return "\n".join(lines[:i] + ["\t" + "\t".join(toks)] + lines[i + 1:])

    edit = st.builds(token_edit, st.integers(0, len(lines) - 1), st.integers(0, 40), st.booleans())
    return st.one_of(trunc, drop_line, edit)


def _same_or_error(reader, text: str, full: dict) -> None:
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "cam.txt"
        p.write_bytes(text.encode())
        try:
            got = reader(p)
        except CalibrationError as e:
            assert str(p) in str(e)  # names the file
            return
    # whatever parsed must be exactly what the undamaged file says: no silently wrong camera
    for k, cam in got.items():
        assert k in full
        ref = full[k]
        for field in cam.__dataclass_fields__:
            a, b = getattr(cam, field), getattr(ref, field)
            if isinstance(a, np.ndarray):
                np.testing.assert_array_equal(a, b)
            elif field != "name":
                assert a == b, (field, a, b)


@FUZZ
@given(data=st.data())
def test_fuzzed_skeletool(data):
    full = {}
    with tempfile.TemporaryDirectory() as d:
        (Path(d) / "c").write_text(SKELETOOL)
        full = read_camera_calibration(Path(d) / "c")
    _same_or_error(read_camera_calibration, data.draw(_mutations(SKELETOOL)), full)


@FUZZ
@given(data=st.data(), which=st.sampled_from(["ts1-4cameras.calib", "ts5-6cameras.calib"]))
def test_fuzzed_tc(testdata, data, which):
    path = testdata / "mpi3dhp" / which
    full = read_tc_calibration(path)
    _same_or_error(read_tc_calibration, data.draw(_mutations(path.read_text())), full)
