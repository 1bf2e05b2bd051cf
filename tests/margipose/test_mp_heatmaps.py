import pytest
import torch

from margipose.heatmaps import cell_centres, flat_softmax, gaussian_targets, js_divergence, soft_argmax


@pytest.mark.parametrize("size", [32, 64])
def test_dsnt_of_gaussian_recovers_centre(size):
    g = torch.Generator().manual_seed(0)
    centres = (torch.rand(8, 17, 2, generator=g, dtype=torch.float64) * 1.6 - 0.8)
    maps = gaussian_targets(centres, (size, size), sigma_px=1.0)
    assert torch.allclose(maps.sum((-2, -1)), torch.ones(8, 17, dtype=torch.float64))
    assert (soft_argmax(maps) - centres).abs().max() < 1e-3


def test_soft_argmax_3d_and_rectangular_volume():
    c = torch.tensor([[0.25, -0.4, 0.6]], dtype=torch.float64)
    vol = gaussian_targets(c, (16, 32, 24))  # D, H, W
    assert vol.shape == (1, 16, 32, 24)
    assert (soft_argmax(vol, 3) - c).abs().max() < 1e-3


def test_one_hot_maps_give_cell_centres():
    maps = torch.zeros(1, 1, 4, 4)
    maps[0, 0, 1, 3] = 1  # row 1 (y), column 3 (x)
    xy = soft_argmax(maps)[0, 0]
    assert torch.allclose(xy, torch.tensor([0.75, -0.25]))
    assert torch.allclose(cell_centres(4), torch.tensor([-0.75, -0.25, 0.25, 0.75]))


def test_flat_softmax_sums_to_one_per_map():
    p = flat_softmax(torch.randn(2, 3, 5, 6))
    assert torch.allclose(p.sum((-2, -1)), torch.ones(2, 3))


def test_jsd_zero_for_identical_and_symmetric():
    g = torch.Generator().manual_seed(1)
    p = flat_softmax(torch.randn(4, 17, 16, 16, generator=g, dtype=torch.float64))
    q = flat_softmax(torch.randn(4, 17, 16, 16, generator=g, dtype=torch.float64))
    assert js_divergence(p, p).abs().max() < 1e-12
    assert torch.allclose(js_divergence(p, q), js_divergence(q, p))
    assert (js_divergence(p, q) > 0).all()
    assert (js_divergence(p, q) <= torch.log(torch.tensor(2.0, dtype=torch.float64)) + 1e-12).all()


def test_jsd_of_disjoint_maps_is_log2():
    p = torch.zeros(1, 2, 2, dtype=torch.float64)
    q = torch.zeros(1, 2, 2, dtype=torch.float64)
    p[0, 0, 0], q[0, 1, 1] = 1, 1
    assert torch.allclose(js_divergence(p, q), torch.log(torch.tensor([2.0], dtype=torch.float64)))
