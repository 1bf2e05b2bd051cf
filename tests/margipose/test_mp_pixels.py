"""The compiled crop warp and colour jitter (margipose._pixels_numba) against Pillow, and both paths of the data."""
import numpy as np
import pytest
import torch
from PIL import Image

from margipose import coords, pixels
from margipose.data import Pose2DDataset, Pose3DDataset
from margipose.images import ImageFileError, Jitter, apply_jitter, draft_scale, read_crop, to_tensor, warp_crop

kernel = pytest.importorskip("margipose._pixels_numba", reason="numba (the fast extra) is not installed")


def _pillow_warp(image: Image.Image, inverse: np.ndarray, width: int, height: int) -> np.ndarray:
    out = image.transform((width, height), Image.Transform.AFFINE, data=tuple(inverse),
                          resample=Image.Resampling.BILINEAR)
    return np.asarray(out).transpose(2, 0, 1)


def _rgbx(image: Image.Image) -> np.ndarray:
    return np.frombuffer(image.tobytes("raw", "RGBX"), np.uint32).reshape(image.height, image.width)


@pytest.mark.parametrize("seed", range(4))
def test_warp_equals_pillow_bilinear_affine_bit_for_bit(seed):
    rng = np.random.default_rng(seed)
    h, w = rng.integers(5, 300, 2)
    image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    source = _rgbx(image)
    for _ in range(40):  # similarities, shears, flips; maps reaching past every edge (black there)
        inverse = np.array([*rng.normal(0, 1.5, 2), rng.uniform(-w, 2 * w), *rng.normal(0, 1.5, 2),
                            rng.uniform(-h, 2 * h)])
        out = np.empty((3, 48, 72), np.uint8)
        kernel.warp(source, inverse, out, 0, 0, w, h)
        assert np.array_equal(out, _pillow_warp(image, inverse, 72, 48))


@pytest.mark.parametrize("seed", range(3))
def test_warp_without_rotation_equals_pillow_bit_for_bit(seed):
    """Maps with no rotation (the training crops unless turned: a1 = a3 = 0, as +0.0 or -0.0) take the
    separable path; zooms both ways, mirror flips, maps past every edge and parts with an origin all give
    Pillow's crop, or the frame's."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(40, 260, 2))
    image = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    whole = _rgbx(image)
    for _ in range(30):
        sx, sy = rng.choice([-1.0, 1.0]) * rng.uniform(0.2, 3.0), rng.uniform(0.2, 3.0)
        inverse = np.array([sx, rng.choice([0.0, -0.0]), rng.uniform(-w, 2 * w), rng.choice([0.0, -0.0]), sy,
                            rng.uniform(-h, 2 * h)])
        out = np.empty((3, 48, 72), np.uint8)
        kernel.warp(whole, inverse, out, 0, 0, w, h)
        assert np.array_equal(out, _pillow_warp(image, inverse, 72, 48))
        x0, y0 = int(rng.integers(0, w // 2)), int(rng.integers(0, h // 2))
        part = np.empty_like(out)
        kernel.warp(np.ascontiguousarray(whole[y0:, x0:]), inverse, part, x0, y0, w, h)
        xs = inverse[0] * np.array([0.5, 71.5]) + inverse[2]
        ys = inverse[4] * np.array([0.5, 47.5]) + inverse[5]
        if xs.min() - 2 >= x0 and ys.min() - 2 >= y0:  # the part holds every pixel read
            assert np.array_equal(part, out)


def test_warp_edges_and_outside():
    image = Image.fromarray(np.random.default_rng(9).integers(1, 256, (20, 30, 3), dtype=np.uint8))
    inverse = np.array([0.25, 0.0, -3.0, 0.0, 0.25, -2.0])  # 4x magnification of the frame and a margin
    out = np.empty((3, 96, 144), np.uint8)
    kernel.warp(_rgbx(image), inverse, out, 0, 0, 30, 20)
    assert np.array_equal(out, _pillow_warp(image, inverse, 144, 96))
    assert not out[:, :8].any() and not out[:, :, :12].any()  # above / left of the image: black
    assert out[:, 8:88, 12:132].all()  # inside (values >= 1), edge pixels replicated
    assert not out[:, 88:].any() and not out[:, :, 132:].any()



@pytest.mark.parametrize("seed", range(3))
def test_warp_of_a_part_with_its_origin_is_the_warp_of_the_frame(seed):
    """A part holding every pixel the crop reads gives the frame's crop bit for bit (the frame's coordinates,
    edges and clamping), including crops past the frame's edges; a part too small stays within its memory."""
    rng = np.random.default_rng(seed)
    h, w = (int(v) for v in rng.integers(60, 200, 2))
    frame = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
    whole = _rgbx(frame)
    for _ in range(20):
        inverse = np.array([*rng.normal(0, 0.6, 2), rng.uniform(-w / 2, w), *rng.normal(0, 0.6, 2),
                            rng.uniform(-h / 2, h)])
        want = np.empty((3, 40, 40), np.uint8)
        kernel.warp(whole, inverse, want, 0, 0, w, h)
        xs = inverse[0] * np.array([0, 0, 40, 40]) + inverse[1] * np.array([0, 40, 0, 40]) + inverse[2]
        ys = inverse[3] * np.array([0, 0, 40, 40]) + inverse[4] * np.array([0, 40, 0, 40]) + inverse[5]
        x0, x1 = (int(np.clip(v, 0, w)) for v in (np.floor(xs.min()) - 2, np.ceil(xs.max()) + 2))
        y0, y1 = (int(np.clip(v, 0, h)) for v in (np.floor(ys.min()) - 2, np.ceil(ys.max()) + 2))
        if x1 <= x0 or y1 <= y0:
            continue
        got = np.empty_like(want)
        kernel.warp(np.ascontiguousarray(whole[y0:y1, x0:x1]), inverse, got, x0, y0, w, h)
        assert np.array_equal(got, want)
    tiny = np.zeros((2, 2), np.uint32)
    out = np.empty((3, 40, 40), np.uint8)
    kernel.warp(tiny, np.array([4.0, 0, 0, 0, 4.0, 0]), out, 50, 50, w, h)  # reads clamped to the 2x2 source
    assert not out[:, :10, :10].any()


JITTERS = [Jitter(1.13), Jitter(0.84), Jitter(contrast=1.19), Jitter(contrast=0.81), Jitter(saturation=1.07),
           Jitter(saturation=0.9), Jitter(hue=0), Jitter(hue=25), Jitter(hue=-26),
           Jitter(1.2, 0.8, 1.2, -7), Jitter(0.3, 2.5, 0.0, 128)]  # beyond the drawn range as well


@pytest.mark.parametrize("jitter", JITTERS, ids=str)
def test_jitter_equals_pillow_enhancers_bit_for_bit(jitter):
    rng = np.random.default_rng(5)
    planes = rng.integers(0, 256, (3, 64, 80), dtype=np.uint8)
    planes[:, :4] = planes[:1, :4]  # greys
    planes[:, 4:6] = (planes[:, 4:6] // 64) * 64  # ties between channels
    want = to_tensor(apply_jitter(pixels.planes_image(planes), jitter))
    got = pixels.planes_to_tensor(planes.copy(), jitter)
    assert got.dtype == torch.float32 and got.shape == (3, 64, 80)
    assert torch.equal(got, want)


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "pillow"])
def test_byte_tensors_are_the_jittered_bytes_and_scale_to_the_float_tensors(monkeypatch, compiled):
    """dtype=torch.uint8 gives the jittered bytes (Pillow's), and those bytes x float32(1/255) in float32, as the
    model scales them (Backbone.forward), are the float tensor bit for bit, on both paths."""
    from margipose.backbone import BYTE_SCALE

    if not compiled:
        monkeypatch.setattr(pixels, "_kernel", None)
        monkeypatch.setattr(pixels, "_unavailable", True)
    rng = np.random.default_rng(6)
    planes = rng.integers(0, 256, (3, 48, 40), dtype=np.uint8)
    for jitter in [Jitter(), *JITTERS]:
        want = np.asarray(apply_jitter(pixels.planes_image(planes), jitter)).transpose(2, 0, 1)
        got = pixels.planes_to_tensor(planes.copy(), jitter, torch.uint8)
        assert got.dtype == torch.uint8 and got.shape == (3, 48, 40)
        assert np.array_equal(got.numpy(), want)
        assert torch.equal(got.to(torch.float32).mul_(BYTE_SCALE), pixels.planes_to_tensor(planes.copy(), jitter))
    assert BYTE_SCALE == float(np.float32(1 / 255))
    with pytest.raises(ValueError, match="uint8"):
        pixels.planes_to_tensor(planes.copy(), Jitter(), torch.float16)


def test_hue_shift_equals_pillow_on_every_colour():
    rgb = np.arange(1 << 24, dtype=np.uint32)
    planes = np.stack([rgb >> 16, (rgb >> 8) & 255, rgb & 255]).astype(np.uint8).reshape(3, 4096, 4096)
    for shift in (-13, 1):
        hsv = np.asarray(pixels.planes_image(planes).convert("HSV")).copy()
        hsv[..., 0] = (hsv[..., 0].astype(np.int16) + shift) % 256
        want = np.asarray(Image.fromarray(hsv, "HSV").convert("RGB")).transpose(2, 0, 1)
        work = planes.copy()
        kernel.jitter(work, 1.0, 1.0, 1.0, True, shift, np.empty(work.shape, np.float32))
        assert np.array_equal(work, want)


def test_the_hue_kernels_multiplications_are_pillows_divisions():
    """The compiled HSV -> RGB multiplies where Convert.c divides by 255 and by 6 / 255; over every byte it
    may get, the values it uses (sector, fraction, float32 saturation) are the same (the / 6.0 on the way
    there is covered by the every-colour test above)."""
    byte = np.arange(256, dtype=np.float32).astype(np.float64)
    divided, multiplied = byte * 6.0 / 255.0, byte * (6.0 / 255.0)
    for fh in (divided, multiplied):
        assert np.array_equal(np.floor(fh), np.floor(divided))
    frac = [(fh - np.floor(fh).astype(np.float32).astype(np.float64)).astype(np.float32) for fh in (divided, multiplied)]
    assert np.array_equal(*frac)
    assert np.array_equal((byte / 255.0).astype(np.float32), (byte * (1.0 / 255.0)).astype(np.float32))


def test_hsv_to_rgb_products_in_float32_give_convert_cs_bytes_for_every_h_s_v():
    """Convert.c's hsv2rgb rounds v (1 - fs), v (1 - fs f) and v (1 - fs (1 - f)) in double; the kernel does
    them in float32 from the same float32 f and fs. For all 2^24 (h, s, v) the three bytes agree."""
    f32 = np.float32

    def rounded(x):
        r = np.floor(x)
        return np.clip(r + (x - r >= 0.5), 0, 255)

    s, v = (a.ravel() for a in np.meshgrid(np.arange(256), np.arange(256), indexing="ij"))
    fs = (s.astype(f32).astype(np.float64) * (1.0 / 255.0)).astype(f32)
    fv = v.astype(f32)
    for h in range(256):
        fh = float(f32(h)) * (6.0 / 255.0)
        f = f32(fh - float(f32(np.floor(fh))))
        want = [rounded(fv.astype(np.float64) * (1.0 - fs.astype(np.float64))),
                rounded(fv.astype(np.float64) * (1.0 - (fs * f).astype(np.float64))),
                rounded(fv.astype(np.float64) * (1.0 - fs.astype(np.float64) * (1.0 - float(f))))]
        got = [rounded(fv * (f32(1) - fs)), rounded(fv * (f32(1) - fs * f)), rounded(fv * (f32(1) - fs * (f32(1) - f)))]
        assert all(np.array_equal(a, b) for a, b in zip(want, got)), h


@pytest.fixture
def pillow_only(monkeypatch):
    """The Pillow path, as without numba."""
    monkeypatch.setattr(pixels, "_kernel", None)
    monkeypatch.setattr(pixels, "_unavailable", True)


def test_switched_off_by_the_environment(monkeypatch):
    monkeypatch.setattr(pixels, "_kernel", None)
    monkeypatch.setattr(pixels, "_unavailable", False)
    monkeypatch.setenv(pixels.ENABLE_ENV, "0")
    assert not pixels.compiled()
    monkeypatch.setattr(pixels, "_unavailable", False)
    monkeypatch.setenv(pixels.ENABLE_ENV, "1")
    assert pixels.compiled()


def _items(dataset, n=6):
    return [dataset[i] for i in range(n)]


@pytest.mark.parametrize("augment", [False, True])
def test_compiled_and_pillow_paths_give_the_same_items(blob_tree, monkeypatch, augment):
    assert pixels.compiled()
    sets = [Pose3DDataset(blob_tree / "mpi3dhp" / "train.h5", input_size=64, augment=augment, seed=4),
            Pose2DDataset(blob_tree / "mpii" / "train.h5", input_size=64, augment=augment, seed=4)]
    fast = [_items(ds) for ds in sets]
    monkeypatch.setattr(pixels, "_kernel", None)  # both restored after the test
    monkeypatch.setattr(pixels, "_unavailable", False)
    assert not pixels.set_compiled(False) and not pixels.compiled()
    slow = [_items(ds) for ds in sets]
    for a_items, b_items in zip(fast, slow):
        for a, b in zip(a_items, b_items):
            assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def test_read_planes_is_read_crop(tmp_path, pillow_only):
    rng = np.random.default_rng(2)
    path = tmp_path / "f.jpg"
    Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8)).save(path, quality=90)
    affine = np.array([[0.4, 0.1, -20.0], [-0.1, 0.4, 10.0], [0, 0, 1]])  # decoded at 1/2
    slow = pixels.read_planes(path, affine, 64)
    assert np.array_equal(slow, np.asarray(read_crop(path, affine, 64)).transpose(2, 0, 1))
    pixels._unavailable = False
    assert pixels.compiled()
    assert np.array_equal(pixels.read_planes(path, affine, 64), slow)
    with pytest.raises(ImageFileError, match="not found"):
        pixels.read_planes(tmp_path / "none.jpg", affine, 64)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageFileError, match="unreadable"):
        pixels.read_planes(tmp_path / "bad.jpg", affine, 64)


@pytest.mark.parametrize("subsampling, interval", [("4:2:0", {"restart_marker_blocks": 5}),
                                                   ("4:4:4", {"restart_marker_blocks": 10}),
                                                   ("4:2:0", {"restart_marker_rows": 1})])
def test_a_tiled_jpeg_is_decoded_in_part_and_gives_the_frames_crop(tmp_path, pillow_only, subsampling, interval):
    """Frames with restart markers (as prepare writes them) are decoded only over the segments the crop reads;
    both paths give the crop of the whole decoded frame at the same DCT scale, bit for bit."""
    from margipose.images import decode_path_for_crop

    rng = np.random.default_rng(5)
    yy, xx = np.mgrid[0:480, 0:640]
    smooth = 128 + 90 * np.sin(xx / 19.0) * np.cos(yy / 27.0)
    pixels_ = np.clip(smooth[..., None] + rng.normal(0, 25, (480, 640, 3)), 0, 255).astype(np.uint8)
    path = tmp_path / "tiled.jpg"
    Image.fromarray(pixels_).save(path, quality=90, subsampling=subsampling, **interval)
    parts = 0
    for side, scale in ((90, 1), (150, 2), (300, 4), (600, 8)):
        for _ in range(4):
            centre = rng.uniform(-40, 680), rng.uniform(-40, 520)  # some crops reach past the frame
            rotation, flip = rng.uniform(-0.6, 0.6), bool(rng.integers(2))
            geom = coords.make_crop(np.array([[500.0, 500.0, 320.0, 240.0]]), np.array([centre]),
                                    np.array([side]), 64, np.array([rotation]), np.array([flip]))
            affine = coords.image_affine(geom)[0]
            assert draft_scale(affine) == scale
            decoded = decode_path_for_crop(path, affine, 64)
            parts += decoded.image.size[0] * decoded.image.size[1] < decoded.frame[0] * decoded.frame[1]
            with Image.open(path) as im:
                if scale > 1:
                    im.draft("RGB", (640 // scale, 480 // scale))
                frame = im.convert("RGB")
            assert decoded.frame == frame.size
            want = np.asarray(warp_crop(frame, affine @ np.diag([scale, scale, 1.0]), 64)).transpose(2, 0, 1)
            pixels.set_compiled(False)
            assert np.array_equal(pixels.read_planes(path, affine, 64), want)
            pixels._unavailable = False
            assert pixels.compiled() and np.array_equal(pixels.read_planes(path, affine, 64), want)
    assert parts >= 8


def test_warp_planes_of_a_decoded_image_is_warp_crop(pillow_only):
    """Inference's ten crops of one decoded image: compiled and Pillow give the same planes, RGB or not."""
    rng = np.random.default_rng(3)
    rgb = Image.fromarray(rng.integers(0, 256, (300, 400, 3), dtype=np.uint8))
    for image in (rgb, rgb.convert("L")):
        for _ in range(5):
            affine = np.array([[rng.uniform(0.2, 1.5), rng.normal(0, 0.2), rng.uniform(-100, 50)],
                               [rng.normal(0, 0.2), rng.uniform(0.2, 1.5), rng.uniform(-100, 50)], [0, 0, 1]])
            slow = pixels.warp_planes(image, affine, 64)
            expected = np.asarray(warp_crop(image.convert("RGB"), affine, 64)).transpose(2, 0, 1)
            assert slow.shape == (3, 64, 64) and np.array_equal(slow, expected)
            pixels._unavailable = False
            assert pixels.compiled() and np.array_equal(pixels.warp_planes(image, affine, 64), slow)
            pixels.set_compiled(False)


def test_pixels_are_read_in_place_or_copied_alike(tmp_path):
    rng = np.random.default_rng(3)
    path = tmp_path / "f.jpg"
    Image.fromarray(rng.integers(0, 256, (120, 90, 3), dtype=np.uint8)).save(path)
    with Image.open(path) as im:
        im.load()
        copied = np.frombuffer(im.tobytes("raw", "RGBX"), np.uint32).reshape(120, 90)
        view, owner = pixels._rgbx(im)
        assert view.shape == (120, 90) and np.array_equal(view & 0xFFFFFF, copied & 0xFFFFFF)
        assert not isinstance(owner, bytes)  # Pillow's memory, no copy (Pillow >= 11.2)

        old = type("OldPillowImage", (), {"size": im.size, "im": object(), "tobytes": im.tobytes})
        view, owner = pixels._rgbx(old())  # no Arrow export: the pixels are copied
        assert isinstance(owner, bytes) and np.array_equal(view, copied)
    big = Image.new("RGB", (2100, 2100), (1, 2, 3))  # over Pillow's 16 MiB block: rows in several blocks
    view, owner = pixels._rgbx(big)
    assert isinstance(owner, bytes) and view.shape == (2100, 2100) and np.all(view & 0xFFFFFF == 0x030201)
