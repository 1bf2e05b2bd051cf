"""The authors' released checkpoint format (anibali/margipose) loads as it is and gives the reference's outputs.

Facts recorded from running the authors' model code (src/margipose/models/margipose_model.py at 2933f30,
with Cadene's inceptionv4) outside the repository: its state dict has 2278 entries, 57,867,668 parameters,
and the SHA-256 of its "name shape" lines (in state-dict order) is REFERENCE_NAMES_SHA256. With the
closed-form weights and image below, in float64, its final coordinates are GOLDEN_COORDS.
"""
import hashlib
import math

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from margipose import MargiPose, load_model
from margipose.authors import state_from_reference
from margipose.backbone import InceptionStem
from margipose.checkpoint import CheckpointError, load_checkpoint
from margipose.cli import main
from margipose.model import parameter_count

REFERENCE_PARAMETERS = 57_867_668
REFERENCE_ENTRIES = 2278
REFERENCE_NAMES_SHA256 = "74dfeb2e93d191bd6becee27edf392e47b9751e4977cb8decb3192f8532c4849"
DESC = {"type": "margipose", "version": "6.0.1",
        "settings": {"n_stages": 4, "axis_permutation": True, "feature_extractor": "inceptionv4",
                     "pixelwise_loss": "jsd"}}
GOLDEN_COORDS = [
    [0.000692756025176211, -0.0007595713213002647, -0.01922403400333801],
    [-3.381785589989805e-05, 0.0005041563554896433, 0.01793342959202063],
    [0.00017956609750234553, 0.0004180581333906308, -0.022951395611107983],
    [-8.085923108981652e-05, -0.0008017977657682612, 0.020998464769746206],
    [1.6821513691006595e-05, 0.0010978962307616746, -0.02819695231230593],
    [4.709261120974806e-05, -0.0015857821047777776, 0.03608555939602123],
    [-0.00014255484253462847, 0.002509705398743442, -0.003093800665710328],
    [0.00029134864133953386, -0.0035992729602180723, 0.028004146880689813],
    [-0.00041681634592122263, 0.004185315073100243, 0.026387257078799606],
    [0.0005167392189133341, -0.004299722302850528, -0.0024713762148484975],
    [-0.0006390750320311167, 0.004462175588080666, 0.04349431387012544],
    [0.0007719433700377337, -0.004538933185270239, -0.03301443528914716],
    [-0.0008585975932164785, 0.003941917456096802, 0.05093166052993135],
    [0.0007119841169005575, -0.002370467343042068, -0.017746787190715214],
    [-0.0005152805362227258, 0.000800824245829404, 0.04950238565870956],
    [0.00034813866459487697, 0.0003926777924704167, -0.010811539767702986],
    [-0.0002064137115426884, -0.0013712817996394816, 0.028083086592530372],
]


def _bn(prefix, c):
    return [(f"{prefix}.{n}", (c,)) for n in ("weight", "bias", "running_mean", "running_var")] + \
        [(f"{prefix}.num_batches_tracked", ())]


def reference_names_and_shapes(stages=4, joints=17):
    """The reference state dict's names and shapes, in its order, written from reading the reference model."""
    out = [("inner.in_cnn." + k[len("features."):], tuple(v.shape)) for k, v in InceptionStem().state_dict().items()]
    out += [("inner.in_cnn.7.weight", (128, 384, 1, 1)), ("inner.in_cnn.7.bias", (128,))] + _bn("inner.in_cnn.8", 128)
    down = [(128, 128, ""), (128, 128, ""), (128, 192, "down"), (192, 192, ""), (192, 192, "")]
    up = [(192, 192, ""), (192, 192, ""), (192, 128, "up"), (128, 128, ""), (128, joints, "")]
    for plane in ("xy", "zy", "xz"):
        for t in range(stages):
            for part, blocks in (("down_layers", down), ("up_layers", up)):
                for b, (cin, cout, kind) in enumerate(blocks):
                    p = f"inner.{plane}_hm_cnns.{t}.{part}.{b}"
                    first = (cin, cout) if kind == "up" else (cout, cin)  # ConvTranspose2d weights: (in, out, k, k)
                    out += [(f"{p}.module.0.weight", (*first, 3, 3))] + _bn(f"{p}.module.1", cout)
                    out += [(f"{p}.module.3.weight", (cout, cout, 3, 3))] + _bn(f"{p}.module.4", cout)
                    out += [(f"{p}.shortcut.0.weight", (*first, 1, 1))] + _bn(f"{p}.shortcut.1", cout)
    out += [(f"inner.hm_combiners.{t}.conv.weight", (128, 3 * joints, 1, 1)) for t in range(stages - 1)]
    return out


def closed_form_state(names, dtype=torch.float64):
    """Deterministic, non-trivial weights for every reference entry (the recipe the golden values used):
    sin(0.37 i + 0.11 seed) scaled by 2/sqrt(fan_in) (0.5 and +1 for BN weights), running_var
    1 + 0.5 cos^2(0.61 i + seed), where i is the element index and seed the entry's position."""
    longest = max(math.prod(s) for _, s in names)
    i = torch.arange(longest, dtype=torch.float64)
    sin_i, cos_i = torch.sin(0.37 * i), torch.cos(0.37 * i)  # sin(a + b) expanded: one sin over the longest
    state = {}
    for seed, (name, shape) in enumerate(names):
        n = math.prod(shape)
        if name.endswith("num_batches_tracked"):
            state[name] = torch.tensor(0)
            continue
        if name.endswith("running_var"):
            w = 1.0 + 0.5 * torch.cos(0.61 * i[:n] + seed) ** 2
        else:
            scale = 2.0 / math.sqrt(max(1, n // shape[0])) if len(shape) > 1 else 0.5
            w = scale * (sin_i[:n] * math.cos(0.11 * seed) + cos_i[:n] * math.sin(0.11 * seed))
            if name.endswith(".weight") and len(shape) == 1:
                w = w + 1.0
        state[name] = w.reshape(shape).to(dtype)
    return state


def closed_form_image(size=64):
    yy, xx = torch.meshgrid(torch.arange(float(size), dtype=torch.float64),
                            torch.arange(float(size), dtype=torch.float64), indexing="ij")
    return torch.stack([0.5 + 0.5 * torch.sin(xx / 5 + c) * torch.cos(yy / 7 - c) for c in (0.0, 1.0, 2.0)])[None]


def place_directly(model, ref_state):
    """Put reference-named tensors into our modules by walking them (independent of margipose.authors)."""
    with torch.no_grad():
        for name, value in ref_state.items():
            parts = name.split(".")[1:]  # drop "inner"
            if parts[0] == "in_cnn":
                i = int(parts[1])
                target = (model.backbone.stem.features if i <= 6 else model.backbone.reduce)
                sub = f"{i}." + ".".join(parts[2:]) if i <= 6 else f"{i - 7}." + ".".join(parts[2:])
            elif parts[0] == "hm_combiners":
                target, sub = model.combiners, f"{parts[1]}.weight"
            else:
                plane, t, part, block, kind = parts[0][:2], parts[1], parts[2], parts[3], parts[4]
                column = model.columns[int(t)][plane]
                target = column.down if part == "down_layers" else column.up
                sub = ".".join([block, "body" if kind == "module" else "shortcut", *parts[5:]])
            owner, _, attr = sub.rpartition(".")
            getattr(target.get_submodule(owner), attr).copy_(value)


@pytest.fixture(scope="module")
def names():
    return reference_names_and_shapes()


@pytest.fixture(scope="module")
def state64(names):
    return closed_form_state(names)


def test_reference_names_are_the_recorded_facts_and_our_model_has_as_many_parameters(names):
    text = "\n".join(f"{k} {s}" for k, s in names)
    assert len(names) == REFERENCE_ENTRIES
    assert hashlib.sha256(text.encode()).hexdigest() == REFERENCE_NAMES_SHA256
    model = MargiPose()
    assert parameter_count(model) == REFERENCE_PARAMETERS == sum(
        math.prod(s) for k, s in names if not k.endswith(("running_mean", "running_var", "num_batches_tracked")))
    assert len(model.state_dict()) == REFERENCE_ENTRIES


def test_authors_format_file_loads_and_equals_the_same_weights_placed_directly(state64, tmp_path):
    state = {k: v.float() if v.is_floating_point() else v for k, v in state64.items()}
    path = tmp_path / "margipose-mpi3d.pth"
    torch.save({"state_dict": state, "model_desc": DESC, "train_datasets": ["mpi3d-trainval", "mpii-trainval"]}, path)
    loaded = load_model(path)
    assert not loaded.training and loaded.config.normalisation == "imagenet"
    direct = MargiPose().eval()
    place_directly(direct, state)
    image = closed_form_image().float()
    with torch.no_grad():
        a, b = loaded(image), direct(image)
    diffs = [(a[t][k] - b[t][k]).abs().max().item() for t in range(4) for k in ("xy", "zy", "xz", "coords")]
    assert max(diffs) == 0.0


def test_loaded_weights_give_the_reference_codes_outputs(state64):
    """float64, the same closed-form weights and image as the run of the authors' code: equal to 1e-9
    (the largest difference seen is 4e-12, summation order)."""
    model = MargiPose().double().eval()
    model.load_state_dict(state_from_reference(model, state64))
    with torch.no_grad():
        coords = model(closed_form_image())[-1]["coords"][0].numpy()
    assert np.abs(coords - np.array(GOLDEN_COORDS)).max() < 1e-9


@pytest.mark.parametrize("change, message", [
    ({"settings": {**DESC["settings"], "feature_extractor": "resnet34"}}, "feature_extractor='resnet34'"),
    ({"settings": {**DESC["settings"], "pixelwise_loss": "mse"}}, "pixelwise_loss='mse'"),
    ({"settings": {**DESC["settings"], "dropout": 0.5}}, "unsupported model setting.*dropout"),
    ({"version": "5.2.0"}, "version '5.2.0'"),
    ({"type": "chatterbox"}, "type 'chatterbox'"),
])
def test_unsupported_settings_are_refused_by_name(tmp_path, change, message):
    path = tmp_path / "x.pth"
    torch.save({"state_dict": {}, "model_desc": {**DESC, **change}, "train_datasets": []}, path)
    with pytest.raises(CheckpointError, match=message):
        load_model(path)


@pytest.mark.parametrize("file, field, message", [
    ({"model_desc": [DESC]}, "model_desc", "model_desc must be a dict, got list"),
    ({"model_desc": {**DESC, "version": 6}}, "model_desc.version", "version must be a string like '6.0.1', got int 6"),
    ({"model_desc": {**DESC, "settings": ["n_stages"]}}, "model_desc.settings", "settings must be a dict, got list"),
    ({"model_desc": {**DESC, "settings": {"n_stages": "4"}}}, "model_desc.settings.n_stages", "n_stages=str '4'"),
    ({"model_desc": {**DESC, "settings": {"n_stages": True}}}, "model_desc.settings.n_stages", "n_stages=bool True"),
    ({"model_desc": {**DESC, "settings": {"n_stages": -1}}}, "model_desc.settings.n_stages", "n_stages=int -1"),
    ({"model_desc": {**DESC, "settings": {"n_stages": {"a": 1}}}}, "model_desc.settings.n_stages", "n_stages=dict"),
    ({"model_desc": {**DESC, "settings": {"n_stages": 10 ** 9}}}, "model_desc.settings.n_stages",
     r"n_stages=1000000000 but the state_dict holds 0 stage\(s\)"),
    ({"model_desc": {**DESC, "settings": {"axis_permutation": 1}}}, "model_desc.settings.axis_permutation",
     "axis_permutation=int 1"),
    ({"state_dict": [1]}, "state_dict", "state_dict must be a dict of named tensors, got list"),
    ({"state_dict": {1: torch.zeros(1)}}, "state_dict", "entry 1 is Tensor"),
    ({"state_dict": {"w": 0.5}}, "state_dict", "entry 'w' is float 0.5"),
])
def test_wrongly_typed_authors_fields_are_refused_by_name(tmp_path, file, field, message):
    from margipose.authors import AuthorsFieldError
    from margipose.checkpoint import CheckpointFieldError

    path = tmp_path / "x.pth"
    torch.save({"state_dict": {}, "model_desc": DESC, "train_datasets": [], **file}, path)
    with pytest.raises(AuthorsFieldError, match=message) as info:
        load_model(path)
    assert info.value.field == field and isinstance(info.value, CheckpointFieldError)
    assert str(path) in str(info.value)


def test_settings_with_non_text_names_are_refused_by_name(tmp_path):
    torch.save({"state_dict": {}, "model_desc": {**DESC, "settings": {3: 1, "dropout": 0.5}}}, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match="unsupported model setting.s. dropout, 3"):
        load_model(tmp_path / "x.pth")


def test_mismatched_state_dicts_are_refused_with_the_name(names, tmp_path):
    state = {k: torch.zeros(s) for k, s in names}
    bad = dict(state)
    bad["inner.in_cnn.7.weight"] = torch.zeros(64, 384, 1, 1)
    torch.save({"state_dict": bad, "model_desc": DESC}, tmp_path / "shape.pth")
    with pytest.raises(CheckpointError, match=r"inner.in_cnn.7.weight.*\(64, 384, 1, 1\)"):
        load_model(tmp_path / "shape.pth")
    del state["inner.hm_combiners.2.conv.weight"]
    torch.save({"state_dict": state, "model_desc": DESC}, tmp_path / "missing.pth")
    with pytest.raises(CheckpointError, match="1 missing, e.g. 'inner.hm_combiners.2.conv.weight'"):
        load_model(tmp_path / "missing.pth")
    torch.save({"weights": 1}, tmp_path / "other.pth")
    with pytest.raises(CheckpointError, match="neither"):
        load_model(tmp_path / "other.pth")


@pytest.fixture(scope="module")
def one_stage_file(tmp_path_factory):
    """A one-stage authors'-format file (random weights), small enough for evaluation tests on the CPU."""
    torch.manual_seed(0)
    names = reference_names_and_shapes(stages=1)
    state = {k: (torch.rand(s) + 0.5 if k.endswith("running_var") else torch.randn(s) * 0.05)
             if not k.endswith("num_batches_tracked") else torch.tensor(0) for k, s in names}
    desc = {**DESC, "settings": {**DESC["settings"], "n_stages": 1}}
    path = tmp_path_factory.mktemp("authors") / "margipose-h36m.pth"
    # a training run's file (optimizer state, epoch) in torch's legacy (pre-1.6, non-zip) serialisation
    torch.save({"state_dict": state, "model_desc": desc, "train_datasets": ["h36m-trainval", "mpii-trainval"],
                "optimizer": {"state": {}, "param_groups": [{"lr": 1e-4, "momentum": 0.9, "params": [0, 1]}]},
                "epoch": 150}, path, _use_new_zipfile_serialization=False)
    return path


def test_convert_writes_a_posebench_checkpoint_with_the_same_outputs(one_stage_file, tmp_path):
    out = tmp_path / "converted.pt"
    res = CliRunner().invoke(main, ["convert", str(one_stage_file), str(out)])
    assert res.exit_code == 0, res.output
    ckpt = load_checkpoint(out)
    assert ckpt["converted_from"]["train_datasets"] == ["h36m-trainval", "mpii-trainval"]
    assert ckpt["converted_from"]["model_desc"]["settings"]["n_stages"] == 1
    assert len(ckpt["converted_from"]["sha256"]) == 64
    image = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(load_model(out)(image)[-1]["coords"], load_model(one_stage_file)(image)[-1]["coords"])
    res = CliRunner().invoke(main, ["convert", str(out), str(tmp_path / "again.pt")])
    assert res.exit_code != 0 and "authors' format" in res.output


def test_posebench_evaluate_reads_the_authors_file_as_it_is(one_stage_file, data_tree):
    from posebench.data import read_prepared
    from posebench.evaluation import image_root, make_template
    from posebench.models import create_model
    from posebench.protocols import load_protocol

    protocol = load_protocol("h36m")
    prepared = read_prepared(data_tree / "h36m" / "test.h5")
    model = create_model("margipose", protocol=protocol, data=data_tree, checkpoint=str(one_stage_file))
    batch = make_template(protocol, prepared)
    batch["image_root"] = image_root(prepared)
    pred = model.predict(batch)
    assert pred.shape == (len(batch["index"]), 17, 3) and np.isfinite(pred).all()
    assert np.allclose(pred[:, 14, 2], batch["root_depth"], rtol=0.5)
