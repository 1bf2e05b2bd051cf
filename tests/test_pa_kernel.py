"""The compiled similarity-Procrustes kernel (posebench._pa_numba, numba) against the NumPy path and the golden
data, and the dispatch that falls back to NumPy (numba absent, disabled, small batches, flagged rows)."""
from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import warnings

import h5py
import numpy as np
import pytest
from scipy.spatial.transform import Rotation

from posebench import _pa_kernel, align, metrics
from test_align import CASES, J

HAS_NUMBA = importlib.util.find_spec("numba") is not None
needs_numba = pytest.mark.skipif(not HAS_NUMBA, reason="the compiled kernel needs the optional numba extra")


@pytest.fixture
def forced(monkeypatch):
    """The kernel for every batch, however small."""
    if not HAS_NUMBA:
        pytest.skip("the compiled kernel needs the optional numba extra")
    monkeypatch.setenv(_pa_kernel.ENABLE_ENV, "1")
    monkeypatch.setattr(_pa_kernel, "MIN_POSES", 1)


def both(pred, gt, **kw):
    """(kernel, NumPy) per-joint errors; asserts the kernel really ran."""
    fast = _pa_kernel.procrustes_errors(np.asarray(pred), np.asarray(gt), align._fit_index(kw.get("fit_joints"), J),
                                        kw.get("reflection", False),
                                        None if kw.get("joints") is None else np.asarray(kw["joints"]))
    assert fast is not None
    return align.procrustes_errors(pred, gt, **kw), align.procrustes_errors(pred, gt, **kw, kernel=False)


def hard_cases(seed: int = 5) -> tuple[np.ndarray, np.ndarray]:
    """One batch of 4,000 poses: rotations near 180 degrees, reflected, camera-space and 1e6 mm offsets,
    mis-scaled, planar and nearly collinear predictions, and the degenerate cases of test_align."""
    rng = np.random.default_rng(seed)
    n = 4000
    gt = rng.normal(0, 1, (n, J, 3)) * np.array([200.0, 450.0, 120.0])
    angle = np.concatenate([np.pi - 10.0 ** -rng.uniform(0, 12, n // 4), rng.uniform(0, np.pi, n - n // 4)])
    axis = rng.normal(size=(n, 3))
    rot = Rotation.from_rotvec(axis / np.linalg.norm(axis, axis=1, keepdims=True) * angle[:, None]).as_matrix()
    pred = np.einsum("nij,nkj->nki", rot, gt + rng.normal(0, 30, gt.shape)) * rng.uniform(0.2, 5, (n, 1, 1))
    pred[::7, :, 0] *= -1.0  # mirrored
    gt[1::5] += rng.normal(0, 1e6, (len(gt[1::5]), 1, 3))  # huge offsets, on either side
    pred[2::5] += rng.normal(0, 1e6, (len(pred[2::5]), 1, 3))
    pred[3::11, :, 2] = 0.0  # planar
    line = rng.normal(0, 300, (n, J, 1)) * rng.normal(0, 1, (n, 1, 3))
    pred[4::13] = line[4::13] + rng.normal(0, 1e-3, (len(line[4::13]), J, 3))  # nearly collinear
    degenerate = [CASES[k] for k in ("collapsed", "zeros", "collinear", "gt-collapsed", "planar")]
    pred = np.concatenate([pred] + [p for p, _ in degenerate])
    gt = np.concatenate([gt] + [g for _, g in degenerate])
    return pred, gt


HARD = hard_cases()
DEGENERATE = slice(4000, 4240)  # collapsed, zeros, collinear, gt-collapsed: always the NumPy path's answer


def exact_ref(pred, gt, **kw):
    """The NumPy path on the poses translated by their first joint: a translation leaves the fit unchanged and is
    exact for huge offsets (Sterbenz), where NumPy's own centroids would round; the kernel shifts the same way."""
    p, g = np.asarray(pred, dtype=np.float64), np.asarray(gt, dtype=np.float64)
    return align.procrustes_errors(p - p[:, :1], g - g[:, :1], **kw, kernel=False)


def size(gt):
    """(N, 1) mean distance of the ground-truth joints from their centroid: the scale of a pose's errors."""
    return np.linalg.norm(gt - gt.mean(1, keepdims=True), axis=-1).mean(1, keepdims=True)


@pytest.mark.parametrize("reflection", [False, True])
def test_kernel_matches_numpy_on_hard_cases(forced, reflection):
    pred, gt = HARD
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fast, raw = both(pred, gt, reflection=reflection)
    assert np.all(np.isfinite(fast))
    np.testing.assert_array_equal(fast[DEGENERATE], raw[DEGENERATE])
    assert np.max(np.abs(fast - raw) / size(gt)) < 1e-11
    p, g = pred[:4000], gt[:4000]
    ref = exact_ref(p, g, reflection=reflection)
    np.testing.assert_allclose(fast[:4000].mean(1), ref.mean(1), rtol=1e-12, atol=0)
    assert np.max(np.abs(fast[:4000] - ref) / size(g)) < 5e-12


@pytest.mark.parametrize("case", sorted(CASES))
def test_kernel_matches_numpy_on_every_align_case(forced, case):
    pred, gt = CASES[case]
    for reflection in (False, True):
        fast, ref = both(pred, gt, reflection=reflection)
        np.testing.assert_allclose(fast, ref, rtol=2e-12, atol=1e-12 * np.abs(gt).max())


def test_kernel_fit_subset_joint_columns_and_dtypes(forced):
    pred, gt = HARD[0][:3000], HARD[1][:3000]
    fit, joints = [0, 1, 4, 8, 11, 14], [16, 0, 14, -1, 3]
    fast, _ = both(pred, gt, fit_joints=fit, joints=joints)
    ref = exact_ref(pred, gt, fit_joints=fit, joints=joints)
    np.testing.assert_allclose(fast.mean(1), ref.mean(1), rtol=2e-12)
    p32, g32 = pred.astype(np.float32), gt.astype(np.float32)  # float32 in, float64 arithmetic
    fast, _ = both(p32, g32)
    np.testing.assert_allclose(fast.mean(1), exact_ref(p32, g32).mean(1), rtol=1e-12)
    strided = np.stack([pred, pred], axis=-1)[..., 0]  # not contiguous
    assert not strided.flags.c_contiguous
    fast, _ = both(strided, gt)
    np.testing.assert_allclose(fast.mean(1), exact_ref(pred, gt).mean(1), rtol=1e-12)
    with pytest.raises(IndexError):
        align.procrustes_errors(pred, gt, joints=[J])  # out of range: the NumPy path says so


def test_kernel_reproduces_the_golden_data(forced, testdata):
    with h5py.File(testdata / "pa-golden.h5", "r") as f:
        g = {k: f[k][()] for k in ("gt", "pred", "videopose3d_p_mpjpe", "scipy_procrustes_mpjpe")}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = metrics.pa_mpjpe(g["pred"], g["gt"])
        mirrored = metrics.pa_mpjpe(g["pred"], g["gt"], reflection=True)
    np.testing.assert_allclose(ours, g["videopose3d_p_mpjpe"], rtol=1e-12, atol=0)
    np.testing.assert_allclose(mirrored, g["scipy_procrustes_mpjpe"], rtol=1e-12, atol=0)


def test_flagged_rows_come_from_the_numpy_path(forced):
    pred, gt = HARD[0][:2500].copy(), HARD[1][:2500]
    pred[[3, 700]] = pred[3, :1]  # collapsed
    pred[1000, 5, 1] = np.nan
    out, redo = _pa_kernel.procrustes_errors(pred, gt, np.arange(J), False, None)
    # the planted rows, and the nearly collinear predictions (eigen-gaps too small: LAPACK's SVD decides)
    assert set(redo.tolist()) - set(range(4, 2500, 13)) == {3, 700, 1000}
    fast = align.procrustes_errors(pred, gt)
    ref = align.procrustes_errors(pred, gt, kernel=False)
    np.testing.assert_array_equal(fast[redo], ref[redo])  # the NaN row stays NaN, the collapsed get the limit
    assert np.isnan(fast[1000]).all() and np.isfinite(np.delete(fast, 1000, axis=0)).all()


@pytest.mark.parametrize("reflection", [False, True])
def test_per_row_means_without_the_joint_array(forced, reflection):
    """mean=True: each row's mean over the scored joints, flagged rows from the NumPy path, and pa_mpjpe the
    same on both paths; the kernel computes it without an (N, J) output."""
    pred, gt = HARD[0][:3000].copy(), HARD[1][:3000]
    pred[[3, 700]] = pred[3, :1]  # collapsed: the NumPy path's limit
    cols = [0, 4, 9, 16]
    for joints in (None, cols):
        per_joint = align.procrustes_errors(pred, gt, reflection=reflection, joints=joints)
        means = align.procrustes_errors(pred, gt, reflection=reflection, joints=joints, mean=True)
        slow = align.procrustes_errors(pred, gt, reflection=reflection, joints=joints, kernel=False, mean=True)
        assert means.shape == (3000,)
        np.testing.assert_allclose(means, per_joint.mean(axis=1), rtol=1e-14, atol=1e-12)
        assert np.max(np.abs(means - slow) / size(gt)) < 1e-11
    kernel_only, redo = _pa_kernel.procrustes_errors(pred, gt, np.arange(J), reflection, None, mean=True)
    assert kernel_only.shape == (3000,) and {3, 700} <= set(redo.tolist())
    np.testing.assert_allclose(metrics.pa_mpjpe(pred, gt, reflection=reflection),
                               align.procrustes_errors(pred, gt, reflection=reflection, kernel=False).mean(axis=1),
                               rtol=1e-11, atol=1e-9)


def test_threads_change_nothing(forced, monkeypatch):
    import numba

    pred, gt = HARD
    monkeypatch.setattr(_pa_kernel, "THREADS", 1)
    one = align.procrustes_errors(pred, gt)
    monkeypatch.setattr(_pa_kernel, "THREADS", 2)
    two = align.procrustes_errors(pred, gt)
    np.testing.assert_array_equal(one, two)
    monkeypatch.setattr(_pa_kernel, "THREADS", None)
    monkeypatch.setenv(_pa_kernel.THREADS_ENV, "1")
    assert _pa_kernel.threads() == 1
    monkeypatch.setenv(_pa_kernel.THREADS_ENV, "10000")
    assert _pa_kernel.threads() == numba.config.NUMBA_NUM_THREADS


def test_fallback_without_numba_is_the_numpy_path(monkeypatch):
    monkeypatch.setenv(_pa_kernel.ENABLE_ENV, "1")
    monkeypatch.setattr(_pa_kernel, "_kernel", None)
    monkeypatch.setattr(_pa_kernel, "_unavailable", True)  # as after a failed `import numba`
    pred, gt = HARD
    assert not _pa_kernel.wanted(len(pred)) and not _pa_kernel.available()
    assert _pa_kernel.procrustes_errors(pred, gt, np.arange(J), False, None) is None
    np.testing.assert_array_equal(align.procrustes_errors(pred, gt), align.procrustes_errors(pred, gt, kernel=False))


@needs_numba
def test_dispatch_policy(monkeypatch):
    monkeypatch.setenv(_pa_kernel.ENABLE_ENV, "0")
    assert not _pa_kernel.wanted(10 ** 7)
    monkeypatch.setenv(_pa_kernel.ENABLE_ENV, "1")
    assert _pa_kernel.wanted(_pa_kernel.MIN_POSES) and not _pa_kernel.wanted(_pa_kernel.MIN_POSES - 1)
    monkeypatch.delenv(_pa_kernel.ENABLE_ENV)
    monkeypatch.setattr(_pa_kernel, "_kernel", None)  # not loaded yet: only a large batch loads it
    assert not _pa_kernel.wanted(_pa_kernel.LOAD_POSES - 1)
    assert _pa_kernel.wanted(_pa_kernel.LOAD_POSES) and _pa_kernel._kernel is not None
    assert _pa_kernel.wanted(_pa_kernel.MIN_POSES)  # once loaded, every batch worth it


def test_short_commands_never_import_numba():
    code = ("import sys, numpy as np\n"
            "from posebench import metrics\n"
            "rng = np.random.default_rng(0)\n"
            "p, g = rng.normal(size=(2, 5000, 17, 3))\n"
            "metrics.pa_mpjpe(p, g), metrics.pa_auc(p, g)\n"
            "print('numba' in sys.modules)\n")
    env = {k: v for k, v in os.environ.items() if k != _pa_kernel.ENABLE_ENV}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == "False"


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("path", ["kernel", "numpy"])
def test_non_finite_inputs_raise_for_every_metric_on_both_paths(monkeypatch, bad, path):
    """joint_errors checks finiteness from its output (one pass less): every metric still names the sample."""
    if path == "kernel" and not HAS_NUMBA:
        pytest.skip("the compiled kernel needs the optional numba extra")
    monkeypatch.setenv(_pa_kernel.ENABLE_ENV, "1" if path == "kernel" else "0")
    monkeypatch.setattr(_pa_kernel, "MIN_POSES", 1)
    rng = np.random.default_rng(1)
    pred, gt = rng.normal(0, 100, (2, 3000, J, 3))
    for side in ("prediction", "ground truth"):
        p, g = pred.copy(), gt.copy()
        (p if side == "prediction" else g)[2071, 9, 2] = bad
        for name in metrics.METRICS:
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                with pytest.raises(metrics.PoseArrayError, match=f"^{side} array holds 1 NaN/inf value.*sample 2071"):
                    getattr(metrics, name)(p, g)
    huge = pred * 1e300  # finite inputs whose errors overflow are not an input error
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.isinf(metrics.mpjpe(huge, gt)).any()
