"""posebench.align against independent per-sample fits (scipy.linalg.svd, scipy.spatial.procrustes)."""
from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.linalg
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.spatial import procrustes as scipy_procrustes
from scipy.spatial.transform import Rotation

from posebench import align
from posebench.skeleton import JOINT_SETS, ROOT, knee_neck_length

J = 17


def ref_similarity(pred: np.ndarray, gt: np.ndarray, fit=None, reflection=False):
    """Umeyama's least-squares similarity for one sample, written plainly with scipy.linalg.svd."""
    fit = list(range(len(pred))) if fit is None else list(fit)
    x, y = pred[fit], gt[fit]
    mx, my = x.mean(0), y.mean(0)
    x0, y0 = x - mx, y - my
    if np.ptp(x, axis=0).max() == 0:  # collapsed prediction: scale 0, everything at the gt centroid
        return np.eye(3), 0.0, my
    u, s, vt = scipy.linalg.svd(y0.T @ x0)
    d = np.ones(3)
    if not reflection and np.linalg.det(u) * np.linalg.det(vt) < 0:
        d[2] = -1.0
    rot = u @ np.diag(d) @ vt
    scale = (s * d).sum() / (x0 ** 2).sum()
    return rot, scale, my - scale * rot @ mx


def ref_aligned(pred, gt, fit=None, reflection=False):
    out = np.empty_like(pred)
    for i in range(len(pred)):
        r, s, t = ref_similarity(pred[i], gt[i], fit, reflection)
        out[i] = s * pred[i] @ r.T + t
    return out


def random_rotations(n: int, rng: np.random.Generator) -> np.ndarray:
    return Rotation.random(n, random_state=rng).as_matrix()


def make_cases(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Named (pred, gt) batches: noisy, mis-scaled, rotated, reflected, far from the origin, degenerate."""
    rng = np.random.default_rng(seed)
    n = 60
    gt = rng.normal(0, 1, (n, J, 3)) * np.array([200.0, 450.0, 120.0]) + rng.normal(0, 50, (n, 1, 3))
    noise = rng.normal(0, 30, (n, J, 3))
    rot = random_rotations(n, rng)
    cases = {
        "noise": gt + noise,
        "mis-scaled": (gt + noise) * rng.choice([0.3, 0.5, 2.0, 5.0], (n, 1, 1)),
        "rotated": np.einsum("nij,nkj->nki", rot, gt + noise) + rng.normal(0, 1000, (n, 1, 3)),
        "reflected": (gt + noise) * np.array([-1.0, 1.0, 1.0]),
        "camera-space": gt + noise + np.array([300.0, -200.0, 5000.0]),
    }
    out = {k: (v, gt) for k, v in cases.items()}
    collapsed = np.repeat(rng.normal(0, 500, (n, 1, 3)), J, axis=1)
    planar = gt + noise
    planar[:, :, 2] = 0.0
    line = rng.normal(0, 300, (n, J, 1)) * rng.normal(0, 1, (n, 1, 3))
    out["collapsed"] = (collapsed, gt)
    out["zeros"] = (np.zeros_like(gt), gt)
    out["planar"] = (planar, gt)
    out["collinear"] = (line, gt)
    out["gt-collapsed"] = (gt + noise, np.repeat(gt[:, :1], J, axis=1))
    return out


CASES = make_cases()


@pytest.mark.parametrize("reflection", [False, True])
@pytest.mark.parametrize("case", sorted(CASES))
def test_procrustes_matches_per_sample_svd(case, reflection):
    pred, gt = CASES[case]
    ours = align.procrustes(pred, gt, reflection=reflection)
    ref = ref_aligned(pred, gt, reflection=reflection)
    scale = np.abs(gt).max()
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-9 * scale)


@pytest.mark.parametrize("case", ["noise", "rotated", "reflected", "mis-scaled"])
def test_similarity_transform_parameters(case):
    pred, gt = CASES[case]
    rot, s, t = align.similarity_transform(pred, gt)
    for i in range(len(pred)):
        r_ref, s_ref, t_ref = ref_similarity(pred[i], gt[i])
        np.testing.assert_allclose(rot[i], r_ref, atol=1e-10)
        np.testing.assert_allclose(s[i], s_ref, rtol=1e-10)
        np.testing.assert_allclose(t[i], t_ref, atol=1e-7)
    np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)


def test_reflection_allowed_matches_scipy_procrustes():
    pred, gt = CASES["reflected"]
    ours = align.procrustes(pred, gt, reflection=True)
    rot, _, _ = align.similarity_transform(pred, gt, reflection=True)
    assert np.all(np.linalg.det(rot) < 0)  # a mirrored prediction is best fitted by a reflection
    for i in range(len(pred)):
        g0 = gt[i] - gt[i].mean(0)
        norm = np.linalg.norm(g0)
        _, mtx2, _ = scipy_procrustes(gt[i], pred[i])  # both standardised; mtx2 is pred aligned
        np.testing.assert_allclose(ours[i], mtx2 * norm + gt[i].mean(0), atol=1e-9 * norm)


def test_fit_joints_subset_transforms_every_joint():
    pred, gt = CASES["rotated"]
    fit = JOINT_SETS["vnect14"]
    ours = align.procrustes(pred, gt, fit_joints=fit)
    np.testing.assert_allclose(ours, ref_aligned(pred, gt, fit), atol=1e-9 * np.abs(gt).max())
    errs = align.procrustes_errors(pred, gt, fit_joints=fit, joints=[16, 0, 14])
    np.testing.assert_allclose(errs, np.linalg.norm(ours - gt, axis=-1)[:, [16, 0, 14]], atol=1e-9)


def test_collapsed_prediction_limit_is_gt_centroid_of_fit_joints():
    pred, gt = CASES["collapsed"]
    fit = [0, 1, 8, 11]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        out = align.procrustes(pred, gt, fit_joints=fit)
        rot, s, t = align.similarity_transform(pred, gt, fit_joints=fit)
    centroid = gt[:, fit].mean(axis=1, keepdims=True)
    np.testing.assert_allclose(out, np.broadcast_to(centroid, out.shape), atol=1e-9)
    assert np.all(s == 0) and np.all(np.isfinite(rot))
    np.testing.assert_allclose(t, centroid[:, 0], atol=1e-9)


@pytest.mark.parametrize("case", ["zeros", "planar", "collinear", "gt-collapsed"])
def test_degenerate_inputs_give_finite_results_without_warnings(case):
    pred, gt = CASES[case]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for reflection in (False, True):
            out = align.procrustes_errors(pred, gt, reflection=reflection)
            assert np.all(np.isfinite(out))
        assert np.all(np.isfinite(align.scale_fit(pred, gt)))


def test_optimal_rotation_near_180_degrees_and_degenerate_spectra():
    rng = np.random.default_rng(3)
    axes = rng.normal(size=(200, 3))
    axes /= np.linalg.norm(axes, axis=1, keepdims=True)
    angles = np.concatenate([np.full(50, np.pi), np.pi - 10.0 ** -rng.uniform(1, 12, 50), rng.uniform(0, np.pi, 100)])
    truth = Rotation.from_rotvec(axes * angles[:, None]).as_matrix()
    spectra = np.array([[3.0, 2.0, 1.0], [1.0, 1.0, 1.0], [2.0, 1.0, 0.0], [1.0, 0.0, 0.0]])
    for diag in spectra:
        m = truth @ np.diag(diag)
        rot, _ = align.optimal_rotation(m)
        if diag[1] > 0:  # rotation unique: recovered exactly
            np.testing.assert_allclose(rot, truth, atol=1e-12)
        # always optimal: tr(R^T M) equals the sum of singular values (all positive det here)
        np.testing.assert_allclose(np.einsum("nij,nij->n", rot, m), diag.sum(), atol=1e-12)
        np.testing.assert_allclose(np.linalg.det(rot), 1.0, atol=1e-12)


def test_optimal_rotation_random_matrices_match_svd_and_count_fallbacks():
    rng = np.random.default_rng(4)
    m = rng.normal(size=(5000, 3, 3))
    m[:10] = 0.0
    m[10:20] = np.diag([1.0, 1.0, -1.0])  # det < 0, equal singular values: no unique best rotation
    for reflection in (False, True):
        rot, n_svd = align.optimal_rotation(m, reflection)
        u, s, vt = np.linalg.svd(m)
        d = np.ones((len(m), 3))
        if not reflection:
            d[:, 2] = np.sign(np.linalg.det(u) * np.linalg.det(vt))
        best = (s * d).sum(1)
        np.testing.assert_allclose(np.einsum("nij,nij->n", rot, m), best, atol=1e-12)
        np.testing.assert_allclose(np.einsum("nji,njk->nik", rot, rot), np.broadcast_to(np.eye(3), m.shape),
                                   atol=1e-12)
        assert n_svd < 100 and (reflection or n_svd >= 10)
        np.testing.assert_array_equal(rot[:10], np.broadcast_to(np.eye(3), (10, 3, 3)))


def test_blocks_and_dtypes_do_not_change_results(monkeypatch):
    pred, gt = CASES["rotated"]
    whole = align.procrustes_errors(pred, gt)
    monkeypatch.setattr(align, "CHUNK", 7)
    np.testing.assert_array_equal(align.procrustes_errors(pred, gt), whole)
    p32, g32 = pred.astype(np.float32), gt.astype(np.float32)
    before = p32.copy()
    np.testing.assert_allclose(align.procrustes_errors(p32, g32),
                               align.procrustes_errors(p32.astype(np.float64), g32.astype(np.float64)), atol=1e-9)
    np.testing.assert_array_equal(p32, before)  # inputs are never modified


def test_scale_fit_is_least_squares_scale_without_centring():
    pred, gt = CASES["mis-scaled"]
    out = align.scale_fit(pred, gt)
    for i in range(len(pred)):
        s = np.vdot(pred[i], gt[i]) / np.vdot(pred[i], pred[i])
        np.testing.assert_allclose(out[i], s * pred[i], rtol=1e-12)
    fit = [1, 2, 3]
    s_fit = align.scale_factors(pred, gt, fit)
    np.testing.assert_allclose(s_fit, np.einsum("nij,nij->n", pred[:, fit], gt[:, fit])
                               / np.einsum("nij,nij->n", pred[:, fit], pred[:, fit]), rtol=1e-12)
    np.testing.assert_array_equal(align.scale_fit(np.zeros_like(gt), gt), 0.0)


def test_root_centre_and_knee_neck_rescale():
    pred, _ = CASES["camera-space"]
    centred = align.root_centre(pred)
    np.testing.assert_array_equal(centred[:, ROOT], 0.0)
    out = align.knee_neck_rescale(pred, 920.0)
    np.testing.assert_allclose(knee_neck_length(out), 920.0, rtol=1e-12)
    np.testing.assert_array_equal(out[:, ROOT], 0.0)
    ratio = out[:, 0] / centred[:, 0]  # a uniform rescaling of the root-centred pose
    np.testing.assert_allclose(ratio, np.broadcast_to(ratio[:, :1], ratio.shape), rtol=1e-12)
    zero = align.knee_neck_rescale(np.zeros((2, J, 3)))
    np.testing.assert_array_equal(zero, 0.0)


def test_align_dispatch_and_errors():
    pred, gt = CASES["noise"]
    np.testing.assert_array_equal(align.align(pred, gt, "none"), pred)
    np.testing.assert_array_equal(align.align(pred, gt, "scale"), align.scale_fit(pred, gt))
    np.testing.assert_array_equal(align.align(pred, gt, "procrustes"), align.procrustes(pred, gt))
    np.testing.assert_array_equal(align.align(pred, gt, "procrustes_reflect"),
                                  align.procrustes(pred, gt, reflection=True))
    assert align.ALIGNMENTS == ("none", "scale", "procrustes", "procrustes_reflect")
    with pytest.raises(align.AlignmentError, match="unknown alignment 'rigid'"):
        align.align(pred, gt, "rigid")
    with pytest.raises(ValueError, match="fit_joints"):
        align.procrustes(pred, gt, fit_joints=[0, 17])
    with pytest.raises(ValueError, match="differs"):
        align.procrustes(pred, gt[:, :16])


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), scale=st.floats(0.05, 20.0), shift=st.floats(-5000, 5000),
       reflection=st.booleans())
def test_procrustes_errors_invariant_under_a_similarity_of_pred(seed, scale, shift, reflection):
    rng = np.random.default_rng(seed)
    gt = rng.normal(0, 300, (8, J, 3))
    pred = gt + rng.normal(0, 60, gt.shape)
    rot = random_rotations(8, rng)
    moved = scale * np.einsum("nij,nkj->nki", rot, pred) + shift
    base = align.procrustes_errors(pred, gt, reflection=reflection)
    np.testing.assert_allclose(align.procrustes_errors(moved, gt, reflection=reflection), base,
                               rtol=1e-9, atol=1e-9)
    assert np.all(align.procrustes_errors(gt, gt, reflection=reflection) < 1e-9)


def test_nan_inputs_propagate_instead_of_becoming_limits():
    pred, gt = CASES["noise"]
    pred = pred[:4].copy()
    pred[1, 3, 0] = np.nan
    for out in (align.procrustes(pred, gt[:4]), align.procrustes(gt[:4], pred), align.scale_fit(pred, gt[:4])):
        np.testing.assert_array_equal(np.isnan(out).any(axis=(1, 2)), [False, True, False, False])
