"""save and load: nested dicts and lists of arrays in one .npz file, never pickle.

The file is an ordinary NumPy .npz (a zip of .npy files), so NumPy alone
can open it. Arrays are stored as entries ``a0``, ``a1``, ...; the entry
``__chainrule__`` is a uint8 array holding JSON that describes the nesting:

    {"format": "chainrule", "version": 1, "root": NODE}

where a NODE is a JSON number, string, true/false or null standing for
itself, or one of the objects {"dict": [[key, NODE], ...]},
{"list": [NODE, ...]}, {"tuple": [NODE, ...]}, {"array": "a3"} and
{"scalar": "a4"} (a NumPy scalar such as np.float32(1.5)). Dict keys are
JSON scalars, so integer keys (an optimiser's state) come back as integers.

Loading uses ``allow_pickle=False``: a file cannot run code when it is read.
Writing goes to a temporary file in the same folder, which is flushed,
synced and then renamed over the target, so a crash mid-write leaves any
earlier file whole.
"""
import contextlib
import json
import os
import secrets
import zipfile

import numpy as np

from .tensor import Tensor

FORMAT = "chainrule"
VERSION = 1
_STRUCTURE = "__chainrule__"


# ----------------------------------------------------------------------- save
def save(obj, path):
    """Write ``obj`` (dicts, lists, tuples of arrays, Tensors, numbers, strings, None) to ``path``.

    Tensors are stored as their arrays (``load`` gives arrays back). The file
    is written atomically; ``path`` is used exactly as given (no suffix added).
    """
    arrays = {}
    root = _encode(obj, arrays, set(), "obj")
    header = json.dumps({"format": FORMAT, "version": VERSION, "root": root})
    arrays[_STRUCTURE] = np.frombuffer(header.encode("utf-8"), dtype=np.uint8)
    with atomic_write(path) as f:
        np.savez(f, **arrays)


def _encode(obj, arrays, active, where):
    """The JSON node for ``obj``, storing its arrays in ``arrays``; ``where`` names it in errors."""
    if obj is None or isinstance(obj, (bool, str)):
        return obj
    if isinstance(obj, (int, float)) and not isinstance(obj, np.generic):
        return int(obj) if isinstance(obj, int) else float(obj)
    if isinstance(obj, Tensor):
        obj = obj.data
    if isinstance(obj, np.ma.MaskedArray):
        raise TypeError(f"save: {where} is a masked array; its mask would be lost, so save .data and "
                        f".mask as two arrays")
    if isinstance(obj, (np.ndarray, np.generic)):
        arr = np.asarray(obj)
        if arr.dtype.hasobject or arr.dtype.kind == "V":
            raise TypeError(f"save: {where} is an array of dtype {arr.dtype}, which cannot be saved "
                            f"without pickle; use numeric, bool or fixed-width string arrays")
        name = f"a{len(arrays)}"
        arrays[name] = arr
        return {"scalar" if isinstance(obj, np.generic) else "array": name}
    if isinstance(obj, (dict, list, tuple)):
        if id(obj) in active:
            raise ValueError(f"save: {where} contains itself")
        active.add(id(obj))
        try:
            if isinstance(obj, dict):
                items = []
                for key, value in obj.items():
                    if isinstance(key, np.generic) and key.dtype.kind in "biuf":
                        key = key.item()  # np.int64(3) keys save as 3
                    if not (key is None or isinstance(key, (str, int, float, bool))):
                        raise TypeError(f"save: {where} has a key of type {type(key).__name__}; "
                                        f"keys must be strings, numbers, booleans or None")
                    items.append([key, _encode(value, arrays, active, f"{where}[{key!r}]")])
                return {"dict": items}
            kind = "list" if isinstance(obj, list) else "tuple"
            return {kind: [_encode(v, arrays, active, f"{where}[{i}]") for i, v in enumerate(obj)]}
        finally:
            active.discard(id(obj))
    raise TypeError(f"save: {where} is a {type(obj).__name__}; chainrule.save writes dicts, lists, tuples, "
                    f"arrays, Tensors, numbers, strings and None")


@contextlib.contextmanager
def atomic_write(path, mode="wb", encoding=None):
    """Open a temporary file beside ``path``; when the block ends without error, it replaces ``path``.

    The data is flushed and fsynced before the rename, so readers see either
    the old file or the complete new one, never a part. On error the
    temporary file is removed and ``path`` is left as it was.
    """
    path = os.fspath(path)
    # Through a symlink to its target, as open(path, "w") would: replacing the link itself would cut it.
    target = os.path.realpath(path) if os.path.islink(path) else path
    folder = os.path.dirname(os.path.abspath(target))
    if not os.path.isdir(folder):
        what = "is a file, not a folder" if os.path.exists(folder) else "does not exist"
        raise FileNotFoundError(f"cannot write {path}: the folder {folder} {what}")
    try:
        # A file being replaced keeps its permission bits (a private 0600 checkpoint stays private).
        keep_mode = os.stat(target).st_mode & 0o777 if os.path.isfile(target) else None
    except OSError:
        keep_mode = None
    temp = os.path.join(folder, f".{os.path.basename(target)}.{secrets.token_hex(4)}.tmp")
    # O_EXCL: never reuse a file someone else made; 0o666 lets the umask decide permissions, as open() does
    # (0o600 when an existing file's bits will be copied, so the data is never readable by more than either).
    with _naming(path):
        fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0),
                     0o666 if keep_mode is None else 0o600)
    try:
        with os.fdopen(fd, mode, encoding=encoding) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
            if keep_mode is not None and hasattr(os, "fchmod"):
                os.fchmod(f.fileno(), keep_mode)
        with _naming(path):
            os.replace(temp, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.remove(temp)
        raise
    _sync_folder(folder)


@contextlib.contextmanager
def _naming(path):
    """Make an OSError name ``path`` (the file the caller asked for), not the temporary file beside it."""
    try:
        yield
    except OSError as e:
        if e.filename is None:  # a message of its own: leave it be
            raise
        # OSError(errno, ...) picks the subclass (IsADirectoryError, PermissionError, ...) as the original did.
        raise OSError(e.errno, e.strerror, path).with_traceback(e.__traceback__) from None


def _sync_folder(folder):
    # Makes the rename itself durable on POSIX; not possible (nor needed) on Windows.
    with contextlib.suppress(OSError, AttributeError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


# ----------------------------------------------------------------------- load
def load(path):
    """Read a file written by ``save``; arrays come back as NumPy arrays.

    Raises FileNotFoundError if ``path`` does not exist and ValueError, naming
    the path, if it is truncated, corrupted, or not a chainrule save.
    """
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"load: no such file: {path}")
    if os.path.isdir(path):
        raise IsADirectoryError(f"load: {path} is a folder, not a chainrule file")
    with open(path, "rb") as f:
        magic = f.read(4)
    if magic != b"PK\x03\x04":
        raise ValueError(f"load: {path} is not a chainrule file (not a zip/.npz archive"
                         f"{', it is empty' if not magic else ''})")
    try:
        with np.load(path, allow_pickle=False) as archive:
            _check_sizes(archive.zip, path)
            if _STRUCTURE not in archive.files:
                raise ValueError(f"load: {path} is a .npz archive but not a chainrule save (it has no "
                                 f"{_STRUCTURE} entry); read it with numpy.load")
            header = _read_header(archive[_STRUCTURE], path)
            return _decode(header["root"], archive, path)
    except ValueError as e:
        if str(e).startswith("load: "):
            raise
        if "pickle" in str(e):
            raise ValueError(f"load: {path} holds a pickled object array; chainrule never unpickles, "
                             f"since unpickling can run arbitrary code") from e
        raise ValueError(f"load: {path} is corrupted or not a chainrule file ({e})") from e
    except (zipfile.BadZipFile, EOFError, OSError, KeyError, TypeError, zipfile.LargeZipFile) as e:
        raise ValueError(f"load: {path} is truncated or corrupted ({type(e).__name__}: {e})") from e
    except MemoryError:  # a crafted entry whose header claims a huge shape
        raise ValueError(f"load: {path} has an array too large to allocate; the file is damaged or crafted") \
            from None
    except RecursionError:  # a crafted structure record nested thousands deep
        raise ValueError(f"load: {path} has a structure record nested too deeply to be one of ours") from None
    except RuntimeError as e:  # zipfile on damaged flags: "encrypted", "compression method not supported"
        raise ValueError(f"load: {path} is truncated or corrupted ({type(e).__name__}: {e})") from e


# ``save`` stores its entries uncompressed; a file zipped again may compress them, but an entry that
# inflates a hundredfold to many megabytes is a zip bomb (3 MB of zeros becoming a 3 GiB array).
_MAX_RATIO, _RATIO_FROM = 100, 16 << 20


def _check_sizes(archive, path):
    for entry in archive.infolist():
        if entry.file_size > _RATIO_FROM and entry.file_size > _MAX_RATIO * max(entry.compress_size, 1):
            raise ValueError(f"load: {path} has an entry {entry.filename!r} that claims to inflate "
                             f"{entry.compress_size} compressed bytes to {entry.file_size}; a chainrule save "
                             f"does not compress, so the file is crafted or damaged")


def _read_header(raw, path):
    if not isinstance(raw, np.ndarray):  # an entry without .npy framing reads as bytes
        raise ValueError(f"load: {path} has an unreadable structure record (not an array)")  # noqa: TRY004
    try:
        header = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"load: {path} has an unreadable structure record ({e})") from e
    if not isinstance(header, dict) or header.get("format") != FORMAT or "root" not in header:
        raise ValueError(f"load: {path} is not a chainrule save (its structure record is not ours)")
    if not isinstance(header.get("version"), int) or header["version"] > VERSION:
        raise ValueError(f"load: {path} was written by a newer chainrule (format version "
                         f"{header.get('version')}; this one reads up to {VERSION})")
    return header


def _decode(node, archive, path):
    if not isinstance(node, dict):
        return node
    if len(node) != 1:
        raise ValueError(f"load: {path} has a malformed structure record near {str(node)[:80]}")
    (kind, body), = node.items()
    if kind == "dict":
        return {key: _decode(value, archive, path) for key, value in body}
    if kind == "list":
        return [_decode(value, archive, path) for value in body]
    if kind == "tuple":
        return tuple(_decode(value, archive, path) for value in body)
    if kind in ("array", "scalar"):
        if body not in archive.files:
            raise ValueError(f"load: {path} is missing array {body!r} that its structure record names")
        arr = archive[body]
        if not isinstance(arr, np.ndarray):
            raise ValueError(f"load: {path} has an entry {body!r} that is not an array")
        return arr[()] if kind == "scalar" else arr
    raise ValueError(f"load: {path} has an unknown entry kind {kind!r} in its structure record")
