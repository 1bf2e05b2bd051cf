import torch

from margipose.heatmaps import gaussian_targets, soft_argmax
from margipose.loss import margipose_loss, stage_loss


def _perfect_stage(target, size=16):
    x, y, z = target.unbind(-1)
    maps = {"xy": gaussian_targets(target[..., :2], (size, size)),
            "zy": gaussian_targets(torch.stack([z, y], -1), (size, size)),
            "xz": gaussian_targets(torch.stack([x, z], -1), (size, size))}
    xy = soft_argmax(maps["xy"])
    coords = torch.stack([xy[..., 0], xy[..., 1], 0.5 * (soft_argmax(maps["zy"])[..., 0] + soft_argmax(maps["xz"])[..., 1])], -1)
    return dict(maps, coords=coords)


def test_perfect_prediction_has_near_zero_loss():
    target = torch.rand(2, 17, 3, dtype=torch.float64) * 1.2 - 0.6
    out = _perfect_stage(target)
    loss, parts = stage_loss(out, target, torch.ones(2, 17, dtype=torch.bool), torch.tensor([True, True]))
    assert float(parts["jsd"]) < 1e-6 and float(parts["euclidean"]) < 1e-3


def test_two_d_samples_ignore_depth_and_masked_joints():
    target = torch.rand(2, 17, 3, dtype=torch.float64) * 1.2 - 0.6
    out = _perfect_stage(torch.rand(2, 17, 3, dtype=torch.float64) * 1.2 - 0.6)
    mask = torch.ones(2, 17, dtype=torch.bool)
    mask[:, 5] = False
    no_depth = torch.tensor([False, False])
    base, _ = stage_loss(out, target, mask, no_depth)
    moved = target.clone()
    moved[..., 2] += 0.5  # depth of 2D-only samples is not supervised
    moved[:, 5] += 0.3    # nor are masked joints
    again, _ = stage_loss(out, moved, mask, no_depth)
    assert torch.allclose(base.float(), again.float())
    with_depth, _ = stage_loss(out, moved, mask, torch.tensor([True, True]))
    assert not torch.allclose(base.float(), with_depth.float())


def test_jsd_switch_and_stage_sum():
    target = torch.zeros(1, 17, 3)
    out = _perfect_stage(torch.full((1, 17, 3), 0.3))
    mask, depth = torch.ones(1, 17, dtype=torch.bool), torch.tensor([True])
    one, log1 = margipose_loss([out], target, mask, depth, jsd=True)
    two, log2 = margipose_loss([out, out], target, mask, depth, jsd=True)
    plain, log3 = margipose_loss([out], target, mask, depth, jsd=False)
    assert torch.allclose(two, 2 * one)
    assert "s1_jsd" in log1 and "s1_jsd" not in log3
    assert float(plain) < float(one)
