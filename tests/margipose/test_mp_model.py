import dataclasses
import typing

import pytest
import torch

from margipose import MargiPose
from margipose.backbone import Backbone, InceptionStem, WeightsError
from margipose.loss import margipose_loss
from margipose.model import AxisPermutation, ConfigError, MargiPoseConfig, parameter_count
from posebench.errors import PosebenchError

TINY = {"stages": 2, "channels": 16, "mid_channels": 16, "input_size": 64}


@pytest.mark.parametrize("plane", ["xy", "zy", "xz"])
def test_axis_permutation_is_a_pure_parameter_free_involution(plane):
    perm = AxisPermutation(plane)
    assert list(perm.parameters()) == [] and list(perm.buffers()) == []
    x = torch.arange(2 * 192 * 16 * 16, dtype=torch.float64).reshape(2, 192, 16, 16)
    y = perm(x)
    assert y.shape == x.shape
    assert torch.equal(y.flatten().sort().values, x.flatten())  # every element once: a permutation
    assert torch.equal(perm.inverse(y), x)
    if plane == "zy":  # channel c of group g at (h, w) comes from channel w of group g at (h, c)
        assert y[0, 16 * 3 + 5, 7, 2] == x[0, 16 * 3 + 2, 7, 5]
    if plane == "xz":
        assert y[1, 16 * 11 + 4, 9, 1] == x[1, 16 * 11 + 9, 4, 1]
    if plane == "xy":
        assert torch.equal(y, x)


def test_axis_permutation_rejects_bad_shapes():
    with pytest.raises(ConfigError):
        AxisPermutation("zy")(torch.zeros(1, 20, 16, 16))


def test_paper_config_defaults():
    cfg = MargiPoseConfig()
    assert (cfg.stages, cfg.channels, cfg.mid_channels, cfg.input_size, cfg.out_size) == (4, 128, 192, 256, 32)
    assert cfg.axis_permutation and cfg.jsd and cfg.head == "marginal" and cfg.normalisation == "imagenet"


@pytest.fixture(scope="module")
def tiny_batch():
    torch.manual_seed(0)
    images = torch.rand(3, 3, 64, 64)
    target = torch.rand(3, 17, 3) * 1.6 - 0.8
    mask = torch.ones(3, 17, dtype=torch.bool)
    mask[2, :4] = False
    has_depth = torch.tensor([True, True, False])
    return images, target, mask, has_depth


@pytest.mark.parametrize("options", [
    {}, {"axis_permutation": False}, {"head": "volumetric", "depth_size": 8},
    {"heatmap_size": 16}, {"head": "volumetric", "depth_size": 4, "heatmap_size": 16},
])
def test_tiny_config_shapes_and_gradients_reach_every_parameter(options, tiny_batch):
    torch.manual_seed(0)
    model = MargiPose(**TINY, **options)
    images, target, mask, has_depth = tiny_batch
    outputs = model(images)
    cfg = model.config
    assert len(outputs) == cfg.stages
    h = cfg.out_size
    for out in outputs:
        assert out["coords"].shape == (3, 17, 3)
        assert out["coords"].abs().max() <= 1
        if cfg.head == "marginal":
            for p in ("xy", "zy", "xz"):
                assert out[p].shape == (3, 17, h, h)
                assert torch.allclose(out[p].sum((-2, -1)), torch.ones(3, 17), atol=1e-5)
        else:
            assert out["volume"].shape == (3, 17, cfg.depth_size, h, h)
    loss, log = margipose_loss(outputs, target, mask, has_depth, jsd=True)
    loss.backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or not torch.isfinite(p.grad).all()
               or p.grad.abs().sum() == 0]
    assert missing == []
    assert {"s1_jsd", "s2_euclidean", "loss"} <= set(log)


def test_marginal_z_is_the_mean_of_zy_and_xz(tiny_batch):
    from margipose.heatmaps import soft_argmax

    out = MargiPose(**TINY).eval()(tiny_batch[0])[-1]
    z = 0.5 * (soft_argmax(out["zy"])[..., 0] + soft_argmax(out["xz"])[..., 1])
    assert torch.allclose(out["coords"][..., 2], z)
    assert torch.allclose(out["coords"][..., :2], soft_argmax(out["xy"]))


def test_bad_options_are_config_errors():
    with pytest.raises(ConfigError, match="unknown"):
        MargiPose(stagez=2)
    with pytest.raises(ConfigError, match="divisible"):
        MargiPose(**{**TINY, "mid_channels": 18})
    with pytest.raises(ConfigError, match="head"):
        MargiPose(**TINY, head="cubic")


# A value of the wrong type for each kind of field (every MargiPoseConfig field is one of these kinds).
_WRONG = {int: [True, 2.0, "4", [4], {"n": 4}, None], bool: [1, 0, "true", None], float: [True, "1.0", float("inf"), None],
          str: [3, b"marginal", ["marginal"], None], int | None: [False, 64.0, "64", {"size": 64}]}


@pytest.mark.parametrize("field", [f.name for f in dataclasses.fields(MargiPoseConfig)])
def test_every_config_field_refuses_values_of_the_wrong_type_by_name(field):
    hint = typing.get_type_hints(MargiPoseConfig)[field]
    assert hint in _WRONG, f"{field}: add its type {hint} to _WRONG"
    for value in _WRONG[hint]:
        with pytest.raises(ConfigError, match=rf"^{field} must be ") as info:
            MargiPoseConfig.from_dict({field: value}).validate()
        assert info.value.field == field and isinstance(info.value, PosebenchError)
        with pytest.raises(ConfigError):
            MargiPose(**{**TINY, field: value})


def test_config_types_are_strict_but_numbers_widen_to_float():
    MargiPoseConfig().validate()
    MargiPoseConfig.from_dict({"sigma": 2, "heatmap_size": None}).validate()  # an int is a fine float
    MargiPoseConfig.from_dict(MargiPoseConfig(stages=2, heatmap_size=64).to_dict()).validate()
    for bad, field in (({"stages": 0}, "stages"), ({"channels": -1}, "channels"), ({"depth_size": 1}, "depth_size"),
                       ({"heatmap_size": 0}, "heatmap_size"), ({"sigma": -1.0}, "sigma"), ({"sigma": 0}, "sigma"),
                       ({"normalisation": "none"}, "normalisation"), ({"input_size": 40}, "input_size")):
        with pytest.raises(ConfigError, match=field) as info:
            MargiPoseConfig.from_dict(bad).validate()
        assert info.value.field == field
    with pytest.raises(ConfigError, match="must be a dict, got list"):
        MargiPoseConfig.from_dict([("stages", 2)])
    with pytest.raises(ConfigError, match=r"unknown MargiPose option\(s\) stagez, 3"):
        MargiPoseConfig.from_dict({"stagez": 1, 3: 1})


def test_backbone_resolution_and_channels():
    stem = InceptionStem().eval()
    with torch.no_grad():
        assert stem(torch.zeros(1, 3, 256, 256)).shape == (1, 384, 32, 32)
        assert Backbone(128).eval()(torch.zeros(1, 3, 64, 64)).shape == (1, 128, 8, 8)


def test_the_model_takes_image_bytes_as_the_same_floats():
    """uint8 images (what training ships to the device) give the output of the float32 images pixels makes
    from them, bit for bit, and the caller's tensor is left as it was."""
    from margipose.backbone import BYTE_SCALE

    torch.manual_seed(0)
    model = MargiPose(**TINY).eval()
    nbytes = torch.randint(0, 256, (2, 3, 64, 64), dtype=torch.uint8)
    kept = nbytes.clone()
    with torch.no_grad():
        got = model(nbytes)[-1]["coords"]
        want = model(nbytes.to(torch.float32) * torch.tensor(1 / 255, dtype=torch.float32))[-1]["coords"]
    assert torch.equal(got, want) and torch.equal(nbytes, kept)
    assert torch.tensor(BYTE_SCALE, dtype=torch.float32) == torch.tensor(1 / 255, dtype=torch.float32)


def test_loads_a_timm_named_state_dict(tmp_path):
    torch.manual_seed(0)
    source = InceptionStem()
    state = {k: torch.randn_like(v.float()).to(v.dtype) if v.dtype.is_floating_point else v
             for k, v in source.state_dict().items()}
    # a full timm Inception-v4 has more blocks and a classifier; those keys are ignored
    full = dict(state)
    full["features.7.branch0.conv.weight"] = torch.zeros(96, 384, 1, 1)
    full["last_linear.weight"] = torch.zeros(1000, 1536)
    path = tmp_path / "inception_v4.pth"
    torch.save(full, path)
    backbone = Backbone(normalisation="inception")
    backbone.load_inception_weights(path)
    loaded = backbone.stem.state_dict()
    assert all(torch.equal(loaded[k], state[k]) for k in state)
    assert torch.allclose(backbone.mean.flatten(), torch.tensor([0.5, 0.5, 0.5]))
    assert "features.4.branch1.2.conv.weight" in loaded  # the 7x1 conv of Mixed_4a, timm name
    torch.save({"conv1.weight": torch.zeros(1)}, tmp_path / "other.pth")
    with pytest.raises(WeightsError, match="missing"):
        backbone.load_inception_weights(tmp_path / "other.pth")
    (tmp_path / "junk.pth").write_bytes(b"not a torch file")
    with pytest.raises(WeightsError, match="junk.pth"):
        backbone.load_inception_weights(tmp_path / "junk.pth")


def test_parameter_count_of_paper_config_is_the_reference_models():
    n = parameter_count(MargiPose())
    # every residual block has a projection shortcut (1x1 conv + BN), as the reference: 57,867,668
    assert n == 57_867_668


def test_reference_initialisation_kaiming_fan_out_and_unit_batchnorm():
    torch.manual_seed(0)
    model = MargiPose(stages=2)
    block = model.columns[1]["zy"].down[0]
    conv = block.body[0].weight  # 128 -> 128, 3x3: fan_out = 128 * 9
    assert abs(conv.std().item() / (2 / (128 * 9)) ** 0.5 - 1) < 0.03
    short = block.shortcut[0].weight  # 1x1 projection: fan_out = 128
    assert abs(short.std().item() / (2 / 128) ** 0.5 - 1) < 0.03
    assert abs(model.combiners[0].weight.std().item() / (2 / 128) ** 0.5 - 1) < 0.05
    bns = [m for m in model.columns.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert all(torch.all(m.weight == 1) and torch.all(m.bias == 0) for m in bns)
