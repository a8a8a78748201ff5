"""chainrule.save / chainrule.load: round trips, atomic writes, and clear errors on bad files."""
import os
import zipfile

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, serialization


def _assert_same(a, b):
    """Equal values and equal types, all the way down."""
    assert type(a) is type(b), (a, b)
    if isinstance(a, dict):
        assert list(a) == list(b)
        for k in a:
            assert type(k) is type(next(key for key in b if key == k))
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b)
        for x, y in zip(a, b):
            _assert_same(x, y)
    elif isinstance(a, (np.ndarray, np.generic)):
        assert a.dtype == b.dtype and np.shape(a) == np.shape(b)
        np.testing.assert_array_equal(a, b)
    elif isinstance(a, float) and np.isnan(a):
        assert np.isnan(b)
    else:
        assert a == b


def test_nested_round_trip(tmp_path):
    obj = {
        "weights": {"w": np.arange(6, dtype=np.float32).reshape(2, 3), "b": np.zeros(0, dtype=np.float64)},
        "ints": np.array([[1, -2]], dtype=np.int64),
        "mask": np.array([True, False]),
        "words": np.array(["the", "cat"]),
        "zero_d": np.array(3.5, dtype=np.float32),
        "scalar": np.float32(1.25),
        "count": np.int64(7),
        3: "integer key",
        2.5: None,
        "list": [1, 2.0, "three", None, True, [np.ones(2, dtype=np.float16)], {}],
        "tuple": (0.9, 0.999),
        "big": 2 ** 70,
        "special": [float("inf"), -float("inf"), float("nan")],
        "unicode": "naïve café ✓",
        "empty": [],
    }
    serialization.save(obj, tmp_path / "obj.crs")
    _assert_same(obj, cr.load(tmp_path / "obj.crs"))


def test_tensors_are_saved_as_arrays(tmp_path):
    t = cr.tensor([[1.0, 2.0]], requires_grad=True)
    cr.save({"t": t, "root": [t]}, tmp_path / "t")
    back = cr.load(tmp_path / "t")
    assert isinstance(back["t"], np.ndarray) and back["t"].dtype == np.float32
    np.testing.assert_array_equal(back["root"][0], t.data)
    cr.save(t, tmp_path / "bare")
    np.testing.assert_array_equal(cr.load(tmp_path / "bare"), t.data)


def test_module_state_dict_round_trip(tmp_path):
    cr.manual_seed(0)
    model = nn.Sequential(nn.Embedding(7, 3, padding_idx=0), nn.Linear(3, 2))
    cr.save(model.state_dict(), tmp_path / "model.npz")
    cr.manual_seed(1)
    other = nn.Sequential(nn.Embedding(7, 3, padding_idx=0), nn.Linear(3, 2))
    loaded = cr.load(tmp_path / "model.npz")
    assert list(loaded) == list(model.state_dict())
    other.load_state_dict(loaded)
    for (k, a), (_, b) in zip(model.state_dict().items(), other.state_dict().items()):
        np.testing.assert_array_equal(a, b, err_msg=k)


def test_file_is_a_plain_npz_at_the_exact_path(tmp_path):
    path = tmp_path / "model.chainrule"
    cr.save({"w": np.ones(3)}, path)
    assert os.listdir(tmp_path) == ["model.chainrule"]  # no suffix added, no temporary left behind
    with np.load(path, allow_pickle=False) as archive:
        assert "__chainrule__" in archive.files
        np.testing.assert_array_equal(archive["a0"], np.ones(3))


def test_file_permissions_follow_the_umask(tmp_path):
    umask = os.umask(0)
    os.umask(umask)
    cr.save([1], tmp_path / "f")
    assert os.stat(tmp_path / "f").st_mode & 0o777 == 0o666 & ~umask


# ------------------------------------------------------------------ atomicity
def test_crash_mid_write_leaves_the_old_file_intact(tmp_path, monkeypatch):
    path = tmp_path / "ckpt"
    cr.save({"version": 1, "w": np.arange(1000.0)}, path)
    old_bytes = path.read_bytes()

    def crash(f, **arrays):
        f.write(b"PK\x03\x04 half a file")
        raise KeyboardInterrupt  # as if the user pressed ^C in the middle of the write

    monkeypatch.setattr(serialization.np, "savez", crash)
    with pytest.raises(KeyboardInterrupt):
        cr.save({"version": 2, "w": np.zeros(1000)}, path)
    monkeypatch.undo()
    assert path.read_bytes() == old_bytes
    assert cr.load(path)["version"] == 1
    assert os.listdir(tmp_path) == ["ckpt"]


def test_atomic_write_replaces_only_on_success(tmp_path):
    path = tmp_path / "notes.txt"
    with serialization.atomic_write(path, "w", encoding="utf-8") as f:
        f.write("first")
    with pytest.raises(RuntimeError), serialization.atomic_write(path, "w", encoding="utf-8") as f:
        f.write("second")
        raise RuntimeError("disk full")
    assert path.read_text(encoding="utf-8") == "first"
    assert os.listdir(tmp_path) == ["notes.txt"]


def test_saving_into_a_missing_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        cr.save([1], tmp_path / "nowhere" / "f")
    (tmp_path / "afile").write_text("x")
    with pytest.raises(FileNotFoundError, match="afile is a file, not a folder"):
        cr.save([1], tmp_path / "afile" / "f")


# -------------------------------------------------------------- bad input
def _saved(tmp_path):
    path = tmp_path / "good"
    cr.save({"w": np.random.RandomState(0).randn(2000).astype(np.float32), "n": 3}, path)
    return path


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.npz"):
        cr.load(tmp_path / "missing.npz")


@pytest.mark.parametrize("keep", [0.5, 0.9, 10])
def test_truncated_file(tmp_path, keep):
    path = _saved(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:int(len(data) * keep) if keep < 1 else keep])
    with pytest.raises(ValueError, match=str(path)):
        cr.load(path)


def test_corrupted_bytes_are_detected(tmp_path):
    path = _saved(tmp_path)
    data = bytearray(path.read_bytes())
    middle = len(data) // 3  # inside the float array's data
    data[middle:middle + 8] = b"\xff" * 8
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match=str(path)):
        cr.load(path)


@pytest.mark.parametrize("content", [b"", b"hello, this is not a model", b"\x93NUMPY garbage"])
def test_garbage_file(tmp_path, content):
    path = tmp_path / "garbage.bin"
    path.write_bytes(content)
    with pytest.raises(ValueError, match="garbage.bin.*not a chainrule file"):
        cr.load(path)


def test_plain_npz_is_not_a_chainrule_save(tmp_path):
    path = tmp_path / "plain.npz"
    np.savez(path, w=np.ones(2))
    with pytest.raises(ValueError, match="plain.npz.*not a chainrule save"):
        cr.load(path)


def test_other_zip_is_not_a_chainrule_save(tmp_path):
    path = tmp_path / "archive.zip"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("readme.txt", "hello")
    with pytest.raises(ValueError, match="archive.zip"):
        cr.load(path)


UNPICKLED = []


class _Trap:
    """An object whose unpickling would record itself: loading must never get that far."""

    def __reduce__(self):
        return (UNPICKLED.append, ("unpickled!",))


def test_pickled_object_array_is_refused(tmp_path):
    path = tmp_path / "evil.npz"
    header = b'{"format": "chainrule", "version": 1, "root": {"array": "a0"}}'
    trap = np.empty(1, dtype=object)
    trap[0] = _Trap()
    np.savez(path, a0=trap, __chainrule__=np.frombuffer(header, dtype=np.uint8))
    with pytest.raises(ValueError, match="evil.npz.*pickle"):
        cr.load(path)
    assert UNPICKLED == []


def test_header_from_the_future_or_foreign(tmp_path):
    for header, message in [(b'{"format": "chainrule", "version": 99, "root": 1}', "newer"),
                            (b'{"format": "other", "version": 1, "root": 1}', "not a chainrule save"),
                            (b'{not json', "unreadable")]:
        path = tmp_path / "h.npz"
        np.savez(path, __chainrule__=np.frombuffer(header, dtype=np.uint8))
        with pytest.raises(ValueError, match=message):
            cr.load(path)


def test_crafted_structure_records_give_clear_errors(tmp_path):
    path = tmp_path / "c.npz"
    deep = b'{"format": "chainrule", "version": 1, "root": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    np.savez(path, __chainrule__=np.frombuffer(deep, dtype=np.uint8))
    with pytest.raises(ValueError, match="nested too deeply"):
        cr.load(path)
    # An entry written without .npy framing: NumPy hands back raw bytes, never to be returned.
    header = b'{"format": "chainrule", "version": 1, "root": {"array": "w"}}'
    for entries, message in [({"__chainrule__.npy": b"junk", }, "structure record"),
                             ({"__chainrule__.npy": None, "w.npy": b"not an array"}, "'w' that is not an array")]:
        with zipfile.ZipFile(path, "w") as z:
            for name, content in entries.items():
                if content is None:
                    np.save(tmp_path / "h.npy", np.frombuffer(header, dtype=np.uint8))
                    content = (tmp_path / "h.npy").read_bytes()
                z.writestr(name, content)
        with pytest.raises(ValueError, match=message):
            cr.load(path)


# ---------------------------------------------------------- what save refuses
def test_unsavable_objects_are_refused_with_their_location(tmp_path):
    with pytest.raises(TypeError, match=r"obj\['a'\]\[1\] is a set"):
        cr.save({"a": [1, {2}]}, tmp_path / "f")
    with pytest.raises(TypeError, match="dtype object"):
        cr.save({"a": np.array([1, "x", None], dtype=object)}, tmp_path / "f")
    with pytest.raises(TypeError, match="key of type tuple"):
        cr.save({(1, 2): 3}, tmp_path / "f")
    loop = []
    loop.append(loop)
    with pytest.raises(ValueError, match="contains itself"):
        cr.save(loop, tmp_path / "f")
    with pytest.raises(TypeError, match=r"obj\['m'\] is a masked array"):  # its mask would be dropped
        cr.save({"m": np.ma.masked_array([1, 2], mask=[0, 1])}, tmp_path / "f")
    assert not (tmp_path / "f").exists()


def test_an_entry_claiming_a_huge_shape_is_a_clear_error(tmp_path):
    header = b'{"format": "chainrule", "version": 1, "root": {"array": "w"}}'
    np.save(tmp_path / "h.npy", np.frombuffer(header, dtype=np.uint8))
    # A .npy header for 2**50 float64 values (8 PiB) with no data behind it.
    npy_header = "{'descr': '<f8', 'fortran_order': False, 'shape': (1125899906842624,), }"
    npy = b"\x93NUMPY\x01\x00" + len(npy_header.ljust(118) + "\n").to_bytes(2, "little") \
        + (npy_header.ljust(118) + "\n").encode()
    path = tmp_path / "c.npz"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("__chainrule__.npy", (tmp_path / "h.npy").read_bytes())
        z.writestr("w.npy", npy)
    with pytest.raises(ValueError, match=r"c\.npz"):
        cr.load(path)


def test_damaged_zip_flags_are_a_clear_error(tmp_path):
    path = tmp_path / "w.npz"
    cr.save({"w": np.ones(3)}, path)
    good = path.read_bytes()
    directory = good.index(b"PK\x01\x02")  # the first central-directory record
    # A flipped bit in the flags ("encrypted") and a damaged compression method: zipfile raises
    # RuntimeError / NotImplementedError for these, which used to escape as tracebacks.
    for offset, flip in ((directory + 8, 0x01), (directory + 10, 0x63)):
        damaged = bytearray(good)
        damaged[offset] ^= flip
        path.write_bytes(bytes(damaged))
        with pytest.raises(ValueError, match=r"w\.npz is truncated or corrupted"):
            cr.load(path)


def test_shared_objects_are_fine(tmp_path):
    shared = [np.ones(2)]
    cr.save({"a": shared, "b": shared}, tmp_path / "f")
    back = cr.load(tmp_path / "f")
    np.testing.assert_array_equal(back["a"][0], back["b"][0])
