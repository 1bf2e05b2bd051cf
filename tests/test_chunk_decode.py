"""posebench.chunk_decode: chunks inflated on worker threads give h5py's arrays bit for bit, or are refused."""
import zlib

import h5py
import numpy as np
import pytest

from posebench import chunk_decode
from posebench.data import PreparedFileError, read_prepared, write_prepared


@pytest.fixture(autouse=True)
def every_size(monkeypatch):
    monkeypatch.setattr(chunk_decode, "WORTH", 0)  # small test columns take the threaded path too


def _columns(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    return {"f4": rng.normal(0, 500, (n, 17, 3)).astype(np.float32), "f8": rng.normal(size=(n, 4)),
            "i8": rng.integers(-2**40, 2**40, n), "u1": rng.integers(0, 255, (n, 5)).astype(np.uint8),
            "s": np.array([f"S{i % 13}/Seq{i % 7}" for i in range(n)], "S12")}


@pytest.mark.parametrize("shuffle", [True, False])
@pytest.mark.parametrize("n, chunk", [(1000, 128), (1000, 1000), (999, 100), (5, 4)])
def test_blocks_equal_h5py(tmp_path, shuffle, n, chunk):
    rng = np.random.default_rng(n + chunk)
    path = tmp_path / "c.h5"
    with h5py.File(path, "w") as f:
        for name, a in _columns(n, rng).items():
            f.create_dataset(name, data=a, chunks=(chunk, *a.shape[1:]), compression="gzip", compression_opts=1,
                             shuffle=shuffle)
    with h5py.File(path) as f:
        for name in f:
            ds = f[name]
            rows = chunk_decode.decodable(ds)
            assert rows == chunk
            parts = list(chunk_decode.blocks(ds, rows, workers=2))
            assert [(lo, hi) for lo, hi, _ in parts] == [(lo, min(n, lo + chunk)) for lo in range(0, n, chunk)]
            got = np.concatenate([b for *_, b in parts])
            assert got.dtype == ds.dtype and np.array_equal(got, ds[()]), name


def test_a_chunk_stored_without_deflate_is_read_as_its_mask_says(tmp_path):
    """HDF5 skips a filter that fails or does not pay for a chunk and records it in the chunk's filter mask."""
    a = np.arange(64 * 6, dtype=np.int32).reshape(64, 6)
    path = tmp_path / "m.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("x", shape=a.shape, dtype=a.dtype, chunks=(32, 6), compression="gzip", shuffle=True)
        ds[:32] = a[:32]
        shuffled = a[32:].view(np.uint8).reshape(-1, 4).T.copy().tobytes()  # shuffle applied, deflate skipped
        ds.id.write_direct_chunk((32, 0), shuffled, filter_mask=0b10)
    with h5py.File(path) as f:
        ds = f["x"]
        assert np.array_equal(ds[()], a)
        assert np.array_equal(np.concatenate([b for *_, b in chunk_decode.blocks(ds, 32)]), a)


@pytest.mark.parametrize("options", [{"compression": "lzf"}, {"compression": "gzip", "fletcher32": True},
                                     {"compression": None}, {"compression": None, "chunks": None},
                                     {"chunks": (16, 2)}, {"dtype": ">f8"}])
def test_other_layouts_are_left_to_h5py(tmp_path, options):
    path = tmp_path / "o.h5"
    kw = {"chunks": (16, 4), "compression": "gzip", **options}
    dtype = kw.pop("dtype", "<f8")
    with h5py.File(path, "w") as f:
        f.create_dataset("x", data=np.ones((40, 4)), dtype=dtype, **kw)
        f.create_dataset("v", data=np.array(["a", "bb"], dtype=object), dtype=h5py.string_dtype(), chunks=(1,),
                         compression="gzip")
    with h5py.File(path) as f:
        assert chunk_decode.decodable(f["x"]) is None and chunk_decode.decodable(f["v"]) is None


def test_unwritten_chunks_are_left_to_h5py(tmp_path):
    path = tmp_path / "u.h5"
    with h5py.File(path, "w") as f:
        ds = f.create_dataset("x", shape=(64, 3), dtype="f4", chunks=(16, 3), compression="gzip", fillvalue=7.0)
        ds[:16] = 1.0  # three chunks never written: h5py reads the fill value
    with h5py.File(path) as f:
        assert chunk_decode.decodable(f["x"]) is None


def _prepared(tmp_path, n=600):
    rng = np.random.default_rng(3)
    path = tmp_path / "p.h5"
    names = np.array(["Walking", "Eating 2"], dtype=object)[np.arange(n) % 2]
    write_prepared(path, {"joints3d": rng.normal(0, 400, (n, 17, 3)), "joints2d": rng.normal(0, 300, (n, 17, 2)),
                          "intrinsics": np.ones((n, 4)), "subject": np.repeat([9, 11], n // 2),
                          "camera": np.arange(n) % 4, "frame": np.arange(n), "action": names, "sequence": names,
                          "image": np.array([f"images/{i:06d}.jpg" for i in range(n)], dtype=object)},
                   {"dataset": "h36m", "split": "test"})
    return path


def test_read_prepared_through_the_threads_equals_the_h5py_path(tmp_path, monkeypatch):
    path = _prepared(tmp_path)
    with h5py.File(path) as f:
        assert chunk_decode.decodable(f["joints3d"]) is not None
    rows = np.array([5, 3, 400, 599, 3])
    threaded = read_prepared(path, rows=rows)
    monkeypatch.setattr(chunk_decode, "decodable", lambda ds: None)
    plain = read_prepared(path, rows=rows)
    for name in plain.columns:
        assert np.array_equal(threaded[name], plain[name]), name


@pytest.mark.parametrize("damage", ["garbage", "short", "long"])
def test_a_damaged_chunk_is_one_clear_error(tmp_path, damage):
    path = _prepared(tmp_path)
    with h5py.File(path, "r+") as f:
        ds = f["joints3d"]
        mask, raw = ds.id.read_direct_chunk((0, 0, 0))
        size = ds.chunks[0] * 17 * 3 * ds.dtype.itemsize
        if damage == "garbage":
            raw = raw[:20] + bytes(b ^ 0x5A for b in raw[20:60]) + raw[60:]
        elif damage == "short":  # a valid stream that inflates to less than the chunk
            raw = zlib.compress(zlib.decompress(raw)[:size // 2])
        else:  # more than the chunk: a bomb is cut at the chunk's size and refused
            raw = zlib.compress(zlib.decompress(raw) + bytes(size))
        ds.id.write_direct_chunk((0, 0, 0), raw, filter_mask=mask)
    with pytest.raises(PreparedFileError, match="'joints3d' cannot be read"):
        read_prepared(path)
