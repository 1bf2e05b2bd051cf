import numpy as np
import pytest
from PIL import Image, ImageDraw

from margipose import coords
from margipose.images import ImageFileError, draft_scale, read_crop, to_tensor, warp_crop


def _affine(side, size=64, centre=(400.0, 380.0), rotation=0.0, flip=False):
    k = np.array([[900.0, 900.0, 400.0, 400.0]])
    geom = coords.make_crop(k, np.array([centre]), np.array([side]), size, np.array([rotation]), np.array([flip]))
    return coords.image_affine(geom)[0]


@pytest.mark.parametrize("side, scale", [(64, 1), (127, 1), (128, 2), (255, 2), (256, 4), (512, 8), (2000, 8)])
def test_draft_scale_keeps_a_decoded_pixel_per_crop_pixel(side, scale):
    assert draft_scale(_affine(side)) == scale
    assert draft_scale(_affine(side, rotation=0.5, flip=True)) == scale  # a similarity: same density


@pytest.fixture(scope="module")
def jpeg(tmp_path_factory):
    """A smooth 800x800 JPEG with a bright disc at (430, 350)."""
    yy, xx = np.mgrid[0:800, 0:800]
    rgb = np.stack([128 + 60 * np.sin(xx / 40), 128 + 60 * np.cos(yy / 50), 128 + 40 * np.sin((xx + yy) / 70)], -1)
    im = Image.fromarray(rgb.astype(np.uint8))
    ImageDraw.Draw(im).ellipse([430 - 12, 350 - 12, 430 + 12, 350 + 12], fill=(255, 255, 255))
    path = tmp_path_factory.mktemp("jpeg") / "frame.jpg"
    im.save(path, quality=95)
    return path


@pytest.mark.parametrize("rotation, flip", [(0.0, False), (0.4, True)])
def test_reduced_scale_decode_gives_the_full_decode_crop(jpeg, rotation, flip):
    affine = _affine(520, rotation=rotation, flip=flip)  # 520 px onto 64: decoded at 1/8
    assert draft_scale(affine) == 8
    with Image.open(jpeg) as im:
        full = np.asarray(warp_crop(im.convert("RGB"), affine, 64), np.float64)
    fast = np.asarray(read_crop(jpeg, affine, 64), np.float64)
    assert np.abs(fast - full).mean() < 4.0  # box-filtered vs point-sampled: a few grey levels on average
    # the disc lands on the same crop pixel (geometry of the scaled decode is exact)
    want = (affine @ [430.0, 350.0, 1.0])[:2]
    for img in (fast, full):
        w = img.sum(-1) > 700
        assert np.allclose(np.argwhere(w).mean(0)[::-1] + 0.5, want, atol=0.6)


def test_png_and_missing_files(tmp_path, jpeg):
    png = tmp_path / "f.png"
    Image.open(jpeg).save(png)
    affine = _affine(520)
    assert np.abs(np.asarray(read_crop(png, affine, 64), float)
                  - np.asarray(warp_crop(Image.open(png).convert("RGB"), affine, 64), float)).max() == 0
    with pytest.raises(ImageFileError, match="not found"):
        read_crop(tmp_path / "none.jpg", affine, 64)
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(ImageFileError, match="unreadable"):
        read_crop(tmp_path / "bad.jpg", affine, 64)


def test_to_tensor_is_contiguous_chw_in_unit_range():
    im = Image.fromarray(np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3) * 10)
    t = to_tensor(im)
    assert t.shape == (3, 2, 3) and t.is_contiguous() and float(t.max()) == pytest.approx(170 / 255)
    assert float(t[1, 0, 2]) == pytest.approx(70 / 255)


def _full_decode_crop(path, affine, size, scale):
    """The crop from a complete decode at 1/scale (no early stop), warped with the same map."""
    with Image.open(path) as im:
        if scale > 1:
            im.draft("RGB", (im.size[0] // scale, im.size[1] // scale))
        im.load()
        return np.asarray(warp_crop(im.convert("RGB"), affine @ np.diag([scale, scale, 1.0]), size))


@pytest.mark.parametrize("side, centre, rotation, flip", [
    (520, (430.0, 350.0), 0.0, False),   # 1/8, stops at row ~78 of 100
    (300, (400.0, 200.0), 0.6, True),    # 1/4, rotated: the lowest corner decides
    (100, (300.0, 120.0), 0.0, False),   # 1/1, stops at row ~172 of 800
    (300, (400.0, 700.0), 0.3, False),   # crop past the bottom edge: the whole image
])
def test_decode_stopped_after_the_last_needed_row_gives_the_same_crop(jpeg, side, centre, rotation, flip):
    affine = _affine(side, centre=centre, rotation=rotation, flip=flip)
    fast = np.asarray(read_crop(jpeg, affine, 64))
    assert np.array_equal(fast, _full_decode_crop(jpeg, affine, 64, draft_scale(affine)))


def test_a_file_cut_above_the_needed_rows_fails_and_below_them_does_not(tmp_path, jpeg):
    data = jpeg.read_bytes()
    top = _affine(100, centre=(300.0, 100.0))  # reads rows <= ~160 of 800 at 1/1
    below = tmp_path / "cut_low.jpg"
    below.write_bytes(data[:int(len(data) * 0.7)])
    assert np.array_equal(np.asarray(read_crop(below, top, 64)), _full_decode_crop(jpeg, top, 64, 1))
    above = tmp_path / "cut_high.jpg"
    above.write_bytes(data[:int(len(data) * 0.1)])
    with pytest.raises(ImageFileError, match="truncated"):
        read_crop(above, top, 64)


def _tiled(tmp_path, mode="RGB", name="tiled.jpg"):
    rng = np.random.default_rng(11)
    yy, xx = np.mgrid[0:400, 0:560]
    base = 128 + 80 * np.sin(xx / 17.0) * np.cos(yy / 23.0)
    shape = (400, 560, 3) if mode == "RGB" else (400, 560)
    noise = rng.normal(0, 20, shape)
    pixels = np.clip((base[..., None] if mode == "RGB" else base) + noise, 0, 255).astype(np.uint8)
    path = tmp_path / name
    Image.fromarray(pixels, mode).save(path, quality=90, restart_marker_blocks=5)
    return path


def test_tiled_parts_are_decoded_by_pillows_decoder_directly(tmp_path, monkeypatch):
    """A 3-component tiled frame is decoded by Pillow's libjpeg decoder fed the part's bytes (no second header
    parse in Python); the crop equals the one through Image.open, which grey frames and a Pillow without the
    decoder still take."""
    from margipose import images

    assert images._JPEG_DECODER is not None  # the installed Pillow has it: the fast route is the tested one
    path, grey = _tiled(tmp_path), _tiled(tmp_path, "L", "grey.jpg")
    direct_decode, calls = images._decode_direct, []
    for side, rotation in ((90, 0.0), (150, 0.4), (300, -0.3), (600, 0.1)):
        affine = _affine(side, centre=(260.0, 190.0), rotation=rotation)
        scale = draft_scale(affine)
        monkeypatch.setattr(images, "_decode_direct", lambda *a: calls.append(a[1:]) or direct_decode(*a))
        direct = np.asarray(read_crop(path, affine, 64))
        monkeypatch.setattr(images, "_JPEG_DECODER", None)
        opened = np.asarray(read_crop(path, affine, 64))
        monkeypatch.undo()
        assert len(calls) == 1 and calls.pop()[1] == scale  # the direct route ran once, at the crop's scale
        assert np.array_equal(direct, opened)
        with Image.open(path) as im:
            if scale > 1:
                im.draft("RGB", (560 // scale, 400 // scale))
            frame = im.convert("RGB")
        assert np.array_equal(direct, np.asarray(warp_crop(frame, affine @ np.diag([scale, scale, 1.0]), 64)))
        with Image.open(grey) as im:
            if scale > 1:
                im.draft("L", (560 // scale, 400 // scale))
            frame = im.convert("RGB")
        want = np.asarray(warp_crop(frame, affine @ np.diag([scale, scale, 1.0]), 64))
        assert np.array_equal(np.asarray(read_crop(grey, affine, 64)), want)


def test_a_damaged_tiled_frame_is_one_clear_error(tmp_path):
    """Entropy-coded bytes cut or overwritten inside a tiled frame: the part still has its markers, so the
    damage reaches the decoder, which either fills (libjpeg's warning: as Pillow would) or fails with one
    ImageFileError naming the file; nothing else escapes."""
    from margipose import jpeg_parts

    path = _tiled(tmp_path)
    data = bytearray(path.read_bytes())
    tiles = jpeg_parts.tiling(bytes(data))
    affine = _affine(150, centre=(260.0, 190.0))
    for seed in range(6):
        rng = np.random.default_rng(seed)
        bad = bytearray(data)
        at = int(rng.integers(tiles.scan, len(data) - 2))
        bad[at:at + 40] = rng.integers(0, 256, 40, dtype=np.uint8).tobytes()
        target = tmp_path / f"bad{seed}.jpg"
        target.write_bytes(bytes(bad))
        try:
            crop = read_crop(target, affine, 64)
        except ImageFileError as e:
            assert str(target) in str(e)
        else:
            assert crop.size == (64, 64)
    cut = tmp_path / "cut.jpg"
    cut.write_bytes(bytes(data[:len(data) // 2]))  # no EOI: not tiled, decoded whole, truncated above the crop
    with pytest.raises(ImageFileError, match="truncated"):
        read_crop(cut, _affine(150, centre=(260.0, 330.0)), 64)


def test_a_part_above_pillows_pixel_limit_takes_image_opens_route_and_its_bomb_check(tmp_path, monkeypatch):
    """The direct decoder skips Image.open, and with it Pillow's decompression-bomb check: a part with more
    pixels than Image.MAX_IMAGE_PIXELS goes through Image.open, which warns, or refuses past twice the limit."""
    import warnings

    from margipose import images

    path = _tiled(tmp_path)
    affine = _affine(600, centre=(260.0, 190.0))
    calls = []
    direct = images._decode_direct
    monkeypatch.setattr(images, "_decode_direct", lambda *a: calls.append(a) or direct(*a))
    want = np.asarray(read_crop(path, affine, 64))
    assert len(calls) == 1
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50_000)  # the part is 560 x 400 px
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        with pytest.raises(Image.DecompressionBombError):
            read_crop(path, affine, 64)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 200_000)
    with pytest.warns(Image.DecompressionBombWarning):
        assert np.array_equal(np.asarray(read_crop(path, affine, 64)), want)
    assert len(calls) == 1
