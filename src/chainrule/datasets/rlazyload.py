"""Reading objects out of an R package's lazy-load database, without R.

R packages with ``LazyData`` keep their data sets in two files, such as
``data/Rdata.rdx`` and ``data/Rdata.rdb``. The ``.rdx`` index is itself one
serialized, compressed R object: a list whose ``variables`` entry maps each
object's name to an (offset, length) pair of integers into the ``.rdb``, and
whose ``compressed`` entry says how the ``.rdb`` blobs are compressed. Each
blob is a 4-byte big-endian uncompressed length followed by

* with ``compressed = TRUE``: a zlib stream;
* with ``compressed = 2`` or ``3``: one type byte (``Z`` zlib, ``2`` bzip2,
  ``X`` xz, ``0`` stored) and then the data,

and the uncompressed bytes are an R serialization (``X\\n`` format) that the
``rdata`` package decodes into Python/NumPy values.
"""
import bz2
import lzma
import struct
import warnings
import zlib
from pathlib import Path

from .errors import DataError


def _rdata():
    try:
        import rdata
    except ImportError:
        raise DataError("reading R data needs the optional package 'rdata': pip install rdata "
                        "(or pip install 'chainrule[data]')") from None
    return rdata


def read_index(rdx_path):
    """The ``variables`` map {name: (offset, length)} and the ``compressed`` flag of a ``.rdx`` file."""
    rdata = _rdata()
    index = rdata.read_rds(str(rdx_path))
    try:
        variables = {str(k): (int(v[0]), int(v[1])) for k, v in index["variables"].items()}
        compressed = index.get("compressed", [True])
        compressed = compressed[0] if hasattr(compressed, "__len__") else compressed
    except (KeyError, TypeError, IndexError, AttributeError):
        raise DataError(f"{rdx_path}: not an R lazy-load index (no 'variables' list of offsets)") from None
    return variables, compressed


def _decompress(blob, compressed, where):
    if len(blob) < 4:
        raise DataError(f"{where}: truncated entry")
    size = struct.unpack(">I", blob[:4])[0]
    if compressed is True or compressed == 1:
        kind, payload = b"Z", blob[4:]
    else:
        kind, payload = blob[4:5], blob[5:]
    try:
        if kind == b"Z":
            raw = zlib.decompress(payload)
        elif kind == b"2":
            raw = bz2.decompress(payload)
        elif kind == b"X":
            raw = lzma.decompress(payload)
        elif kind == b"0":
            raw = payload
        else:
            raise DataError(f"{where}: unknown compression type {kind!r}")
    except (zlib.error, OSError, lzma.LZMAError) as e:
        raise DataError(f"{where}: damaged compressed data ({e})") from None
    if len(raw) != size:
        raise DataError(f"{where}: expected {size} bytes after decompression, got {len(raw)}")
    return raw


def read_objects(rdx_path, names=None):
    """Decode the objects ``names`` (default: all) of the lazy-load database ``rdx_path`` (its ``.rdb`` beside it).

    Returns {name: value} with values as ``rdata.conversion.convert`` gives
    them (a character vector becomes a NumPy array of str).
    """
    rdata = _rdata()
    rdx_path = Path(rdx_path)
    rdb_path = rdx_path.with_suffix(".rdb")
    variables, compressed = read_index(rdx_path)
    names = list(variables) if names is None else list(names)
    missing = [n for n in names if n not in variables]
    if missing:
        raise DataError(f"{rdx_path}: no object named {', '.join(missing)} (has: {', '.join(sorted(variables))})")
    out = {}
    with open(rdb_path, "rb") as f:
        for name in names:
            offset, length = variables[name]
            f.seek(offset)
            raw = _decompress(f.read(length), compressed, f"{rdb_path} (object {name!r})")
            with warnings.catch_warnings():
                # rdata guesses the format from a file extension; a blob has none.
                warnings.simplefilter("ignore", UserWarning)
                parsed = rdata.parser.parse_data(raw)
            out[name] = rdata.conversion.convert(parsed)
    return out
