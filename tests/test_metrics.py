"""posebench.metrics against data it did not produce: VideoPose3D / SciPy golden values, mmpose's test vectors,
the official MPI-INF-3DHP scoring, and plain per-sample loops."""
from __future__ import annotations

import csv
import warnings

import h5py
import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.transform import Rotation

from posebench import metrics
from posebench.metrics import AUC_THRESHOLDS, METRICS, PCK_THRESHOLD, PoseArrayError
from posebench.protocols import METRIC_KINDS
from posebench.skeleton import JOINT_SETS, ROOT

J = 17
PA = ["pa_mpjpe", "pa_pck", "pa_auc"]


# --- golden data --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pa_golden(testdata):
    with h5py.File(testdata / "pa-golden.h5", "r") as f:
        return {k: f[k][()] for k in ("gt", "pred", "category", "videopose3d_p_mpjpe", "scipy_procrustes_mpjpe")}


def test_pa_mpjpe_reproduces_videopose3d_per_sample(pa_golden):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ours = metrics.pa_mpjpe(pa_golden["pred"], pa_golden["gt"])
    np.testing.assert_allclose(ours, pa_golden["videopose3d_p_mpjpe"], rtol=1e-9, atol=0)


def test_reflection_allowing_pa_mpjpe_reproduces_scipy_procrustes(pa_golden):
    ours = metrics.pa_mpjpe(pa_golden["pred"], pa_golden["gt"], reflection=True)
    np.testing.assert_allclose(ours, pa_golden["scipy_procrustes_mpjpe"], rtol=1e-9, atol=0)


def test_golden_categories_and_degenerate_limit(pa_golden):
    cat = pa_golden["category"].astype(str)
    gt = pa_golden["gt"]
    degenerate = cat == "degenerate-prediction"
    assert degenerate.sum() == 20
    limit = np.linalg.norm(gt - gt.mean(axis=1, keepdims=True), axis=-1).mean(axis=1)
    ours = metrics.pa_mpjpe(pa_golden["pred"], gt)
    np.testing.assert_allclose(ours[degenerate], limit[degenerate], rtol=1e-12)
    # the reflection question matters: mirrored predictions differ a lot between the two conventions
    reflected = cat == "reflected"
    gap = pa_golden["videopose3d_p_mpjpe"][reflected] - pa_golden["scipy_procrustes_mpjpe"][reflected]
    assert gap.mean() > 50


def test_mmpose_test_vectors():
    """mmpose keypoint_mpjpe: N=2, K=5, fit on all joints, mask applied to the mean only."""
    out = np.array([[[1, 0, 0], [2, 2, 0], [0, 0, -1], [3, 3, 1], [0, 1, 1]],
                    [[1, 0, 0], [2, 2, 1], [-1, 0, 0], [0, 0, 3], [0, 0, 1]]], dtype=float)
    gt = np.array([[[1, 0, 0], [1, 1, 1], [-1, 0, 0], [3, 3, 1], [0, 1, 0]],
                   [[1, 1, 0], [1, 0, 1], [-1, 0, 0], [0, 0, 3], [1, 1, 0]]], dtype=float)
    visible = [0, 1, 3, 4]
    expected = {"none": 0.9625211990796929, "procrustes": 1.0047897634604497, "scale": 1.0277129678465953}
    for method, value in expected.items():
        err = metrics.joint_errors(out, gt, align=method, joints=visible)
        assert err.mean() == pytest.approx(value, rel=1e-12)


def _official_all(path) -> dict[str, float]:
    """Headline 'All' values of the official CSV: MPJPE Average, PCK Total, AUC Total."""
    block, out = "MPJPE", {}
    with open(path, newline="") as f:
        for row in csv.reader(f):
            if row and row[0] in ("PCK", "AUC"):
                block = row[0]
            elif row and row[0] == "All":
                out[block] = float([c for c in row[1:] if c][-1])
    return out


def test_official_mpi3dhp_scoring_headline(testdata):
    folder = testdata / "mpi3dhp-official-scoring"
    preds, gts = [], []
    with h5py.File(folder / "golden.h5", "r") as f:
        for k in range(1, 7):
            g = f[f"TS{k}"]
            valid = g["valid_frame"][()].astype(bool)
            gts.append(g["univ_annot3"][()][valid])
            preds.append(g["prediction"][()])
    gt = np.concatenate(gts)
    gt = gt - gt[:, ROOT:ROOT + 1]
    pred = np.concatenate(preds)
    official = _official_all(folder / "official_activitywise.csv")
    scored = JOINT_SETS["vnect14"]
    assert metrics.mpjpe(pred, gt).mean() == pytest.approx(official["MPJPE"], rel=1e-9)
    assert 100 * metrics.pck(pred, gt, joints=scored).mean() == pytest.approx(official["PCK"], rel=1e-9)
    assert 100 * metrics.auc(pred, gt, joints=scored).mean() == pytest.approx(official["AUC"], rel=1e-9)


# --- independent per-sample references ------------------------------------------------------------

def _ref_errors(pred, gt, align, fit, joints):
    """Per-joint errors computed one sample at a time with scipy / numpy, no shared code."""
    fit = list(range(J)) if fit is None else list(fit)
    joints = list(range(J)) if joints is None else list(joints)
    out = np.empty((len(pred), len(joints)))
    for i in range(len(pred)):
        p, g = pred[i], gt[i]
        if align == "scale":
            pf = p[fit]
            p = p * (np.sum(pf * g[fit]) / np.sum(pf * pf) if np.any(pf) else 0.0)
        elif align in ("procrustes", "procrustes_reflect"):
            pm, gm = p[fit].mean(0), g[fit].mean(0)
            if np.ptp(p[fit], axis=0).max() == 0:
                p = np.broadcast_to(gm, p.shape)
            elif align == "procrustes_reflect":
                # SciPy's own procrustes on the fit joints gives R and s for the standardised pair
                gn, pn = np.linalg.norm(g[fit] - gm), np.linalg.norm(p[fit] - pm)
                _, mtx2, _ = scipy_procrustes(g[fit], p[fit])
                x = (p[fit] - pm) / pn
                rs = np.linalg.lstsq(x, mtx2, rcond=None)[0]  # exact: mtx2 = x @ (s R^T)
                p = (p - pm) / pn @ rs * gn + gm
            else:
                u, s, vt = scipy.linalg.svd((g[fit] - gm).T @ (p[fit] - pm))
                d = np.diag([1.0, 1.0, np.sign(np.linalg.det(u @ vt))])
                rot = u @ d @ vt
                scale = np.trace(np.diag(s) @ d) / np.sum((p[fit] - pm) ** 2)
                p = scale * (p - pm) @ rot.T + gm
        out[i] = np.linalg.norm(p[joints] - g[joints], axis=-1)
    return out


def _ref_per_sample(err, kind):
    if kind == "mean":
        return err.mean(1)
    if kind == "pck":
        return np.array([np.mean([e < PCK_THRESHOLD for e in row]) for row in err])
    return np.array([np.mean([[e < t for t in AUC_THRESHOLDS] for e in row]) for row in err])


@pytest.fixture(scope="module")
def random_poses():
    rng = np.random.default_rng(11)
    n = 40
    gt = rng.normal(0, 1, (n, J, 3)) * np.array([200.0, 450.0, 120.0])
    gt -= gt[:, ROOT:ROOT + 1]
    noisy = gt + rng.normal(0, 60, gt.shape)
    rot = Rotation.random(n, random_state=rng).as_matrix()
    preds = np.concatenate([
        noisy,
        noisy * rng.uniform(0.3, 3.0, (n, 1, 1)),
        np.einsum("nij,nkj->nki", rot, noisy),
        noisy * np.array([1.0, 1.0, -1.0]),
        np.repeat(noisy[:, :1], J, axis=1),
        np.zeros_like(noisy),
    ])
    return preds, np.concatenate([gt] * 6)


@pytest.mark.parametrize("name", sorted(METRICS))
@pytest.mark.parametrize("joints, fit", [(None, None), (JOINT_SETS["vnect14"], None),
                                         (JOINT_SETS["vnect14"], JOINT_SETS["no_root"])])
def test_every_metric_equals_a_per_sample_loop(name, joints, fit, random_poses):
    pred, gt = random_poses
    spec = METRICS[name]
    ours = getattr(metrics, name)(pred, gt, joints=joints, fit_joints=fit)
    err = _ref_errors(pred, gt, spec.align, fit, joints)
    np.testing.assert_allclose(ours, _ref_per_sample(err, spec.kind), rtol=1e-9, atol=1e-9)
    assert ours.shape == (len(pred),) and ours.dtype == np.float64


@pytest.mark.parametrize("name", PA)
def test_reflection_option_of_pa_metrics(name, random_poses):
    pred, gt = random_poses
    ours = getattr(metrics, name)(pred, gt, reflection=True)
    err = _ref_errors(pred, gt, "procrustes_reflect", None, None)
    np.testing.assert_allclose(ours, _ref_per_sample(err, METRICS[name].kind), rtol=1e-9, atol=1e-9)


# --- thresholds and perfect predictions ------------------------------------------------------------

def test_perfect_prediction():
    rng = np.random.default_rng(1)
    gt = rng.normal(0, 300, (5, J, 3))
    for name in ("pck", "pa_pck"):
        np.testing.assert_array_equal(getattr(metrics, name)(gt, gt), 1.0)
    for name in ("auc", "pa_auc"):
        np.testing.assert_allclose(getattr(metrics, name)(gt, gt), 30 / 31, rtol=1e-15)
    np.testing.assert_array_equal(metrics.mpjpe(gt, gt), 0.0)


def test_pck_is_strict_at_the_threshold_and_auc_exact_at_every_threshold():
    e = np.array([[150.0, np.nextafter(150.0, 0.0)], [0.0, 149.0]])
    np.testing.assert_array_equal(metrics.per_sample(e, "pck"), [0.5, 1.0])
    grid = np.arange(0.0, 160.0, 5.0)
    errors = np.stack([grid, np.nextafter(grid, -np.inf), np.nextafter(grid, np.inf)]).T.reshape(-1, 1)
    ref = (errors[:, :, None] < AUC_THRESHOLDS).mean(axis=(1, 2))
    np.testing.assert_array_equal(metrics.per_sample(errors, "auc"), ref)
    # non-uniform thresholds take the general path
    t = np.array([0.0, 10.0, 12.5, 149.0])
    np.testing.assert_array_equal(metrics.per_sample(errors, "auc", thresholds=t),
                                  (errors[:, :, None] < t).mean(axis=(1, 2)))
    # a pose exactly 150 mm off on every joint scores no PCK
    gt = np.zeros((1, J, 3))
    pred = gt + np.array([150.0, 0.0, 0.0])
    assert metrics.pck(pred, gt)[0] == 0.0
    assert metrics.pck(pred, gt, threshold=150.5)[0] == 1.0


@settings(max_examples=60, deadline=None)
@given(start=st.sampled_from([0.0, 0.5, 2.0, -10.0]), step=st.sampled_from([5.0, 0.1, 2.5, 7.0, 1e-3]),
       count=st.integers(1, 40), seed=st.integers(0, 2**32 - 1))
def test_auc_is_exact_for_any_uniform_grid(start, step, count, seed):
    """The fast AUC path (floor then one exact comparison each way) equals the definition, ties included."""
    t = start + np.arange(count) * step
    rng = np.random.default_rng(seed)
    on_grid = rng.choice(t, (20, 5))
    e = np.abs(np.concatenate([on_grid, np.nextafter(on_grid, -np.inf), np.nextafter(on_grid, np.inf),
                               rng.uniform(0, abs(t[-1]) + step, (20, 5))]))
    np.testing.assert_array_equal(metrics.per_sample(e, "auc", thresholds=t), (e[:, :, None] < t).mean(axis=(1, 2)))


def test_empty_batches():
    empty = np.zeros((0, J, 3))
    for name in METRICS:
        assert getattr(metrics, name)(empty, empty).shape == (0,)


def test_per_sample_from_stored_errors_and_bad_kinds():
    e = np.array([[1.0, 2.0, 3.0], [200.0, 0.0, 100.0]])
    np.testing.assert_allclose(metrics.per_sample(e, "mean"), [2.0, 100.0])
    np.testing.assert_allclose(metrics.per_sample(e, "pck"), [1.0, 2 / 3])
    with pytest.raises(PoseArrayError, match="unknown metric kind"):
        metrics.per_sample(e, "median")
    with pytest.raises(PoseArrayError, match="shape"):
        metrics.per_sample(e[0], "mean")


# --- vocabulary and input checks -----------------------------------------------------------------------

def test_metric_vocabulary_agrees_with_protocols():
    assert set(METRICS) == set(METRIC_KINDS)
    for name, spec in METRICS.items():
        kind, aligns, higher, unit = METRIC_KINDS[name]
        fields = (spec.name, spec.kind, spec.align, spec.higher_is_better, spec.unit)
        assert fields == (name, kind, aligns[0], higher, unit)
    assert len(AUC_THRESHOLDS) == 31 and AUC_THRESHOLDS[0] == 0.0 and AUC_THRESHOLDS[-1] == 150.0


@pytest.mark.parametrize("pred, gt, message", [
    (np.zeros((4, J)), np.zeros((4, J)), r"prediction array has shape \(4, 17\)"),
    (np.zeros((4, J, 2)), np.zeros((4, J, 2)), r"expected \(N, J, 3\)"),
    (np.zeros((4, J, 3)), np.zeros((5, J, 3)), "differs from ground-truth shape"),
    (np.zeros((4, J, 3)), np.full((4, J, 3), "a"), "ground truth array has dtype"),
])
def test_check_poses_shapes(pred, gt, message):
    with pytest.raises(PoseArrayError, match=message):
        metrics.check_poses(pred, gt)


def test_check_poses_reports_non_finite_values():
    pred = np.zeros((30000, J, 3))
    pred[20000, 3, 1] = np.nan
    pred[25000, :2, 0] = np.inf
    with pytest.raises(PoseArrayError, match=r"prediction array holds 3 NaN/inf value\(s\) in 2 sample\(s\); "
                                             r"first at sample 20000"):
        metrics.mpjpe(pred, np.zeros_like(pred))
    gt = np.zeros((2, J, 3), dtype=np.float32)
    gt[1, 0, 0] = np.inf
    with pytest.raises(PoseArrayError, match="ground truth array holds 1 NaN/inf value"):
        metrics.pa_mpjpe(np.zeros((2, J, 3)), gt)
    huge = np.full((2, J, 3), 1e307)  # finite values whose sum overflows are still accepted
    metrics.check_poses(huge, huge)
