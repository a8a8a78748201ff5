"""Atomic file writes: a reader sees either the old file or the complete new one.

The data goes to a temporary file in the target's own directory (so the final
``os.replace`` is a rename within one file system, which POSIX makes atomic),
is fsynced, and only then replaces the target. A crash, a full disk or a kill
at any moment leaves the previous file as it was.

The mechanism itself is ``chainrule.serialization.atomic_write``, the one
``chainrule.save`` uses; this module adds the conveniences for text, bytes and
JSON that run directories, histories and vocabulary files need.
"""
import json
import os

from ..serialization import atomic_write


def atomic_open(path, mode="w", encoding="utf-8"):
    """Open a temporary file that replaces ``path`` when the ``with`` block ends without error.

    Use it to stream large outputs (a vocabulary, a vectors file) without
    holding them in memory::

        with atomic_open("vocab.txt") as f:
            for word in words:
                f.write(word + "\\n")

    If the block raises, the temporary file is removed and ``path`` is untouched.
    """
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', not {mode!r}")
    return atomic_write(path, mode, encoding=None if mode == "wb" else encoding)


def atomic_write_bytes(path, data):
    """Write ``data`` (bytes) to ``path`` atomically."""
    with atomic_write(path, "wb") as f:
        f.write(data)


def atomic_write_text(path, text, encoding="utf-8"):
    """Write ``text`` to ``path`` atomically (UTF-8 unless told otherwise)."""
    # Encode first: an unencodable character then fails before any file is touched.
    atomic_write_bytes(path, text.encode(encoding))


def atomic_write_json(path, obj, indent=2):
    """Write ``obj`` as JSON to ``path`` atomically.

    The text is produced before the file is touched, so an object that cannot
    be serialised raises without leaving anything behind. NaN and infinity are
    written as Python's json module does (``NaN``, ``Infinity``), which
    ``json.load`` reads back: a diverged loss must not make a history unsaveable.
    """
    text = json.dumps(obj, indent=indent, ensure_ascii=False) + "\n"
    atomic_write_text(path, text)


def claim(path):
    """Create ``path`` as an empty file, only if nothing is there; False if something is.

    A run claims its folder this way before it starts (the file is replaced by
    its real contents later): of two runs started into one folder, one wins.
    """
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
    except FileExistsError:
        return False
    return True
