"""ARPA files: the plain-text n-gram format of SRILM and KenLM.

    \\data\\
    ngram 1=5
    ngram 2=7

    \\1-grams:
    -0.8     </s>
    -99      <s>     -0.3
    -0.9     a       -0.2          log10 p(w), w, log10 backoff weight (omitted: 0)
    ...
    \\2-grams:
    -0.4     <s> a                 the highest order has no backoff column
    ...
    \\end\\

A log10 probability of -99 means zero (SRILM's convention, used for ``<s>``,
which is context only). The model keeps natural logs and the file holds
log10 values, written with Python's shortest exact ``repr``; the way there
and back (ln -> log10 -> ln) moves about one value in ten by one unit in the
last place, so a file read back scores as the model that wrote it to within
about 1e-15 (relative), not always bit for bit.
"""
import gc
import gzip
import io
import itertools
import math
import os
import warnings

import numpy as np

from ...serialization import atomic_write
from .backoff import BOS, EOS, UNK, lookup

LN10 = math.log(10.0)
ZERO_LOG10 = -99.0


class ArpaFormatError(ValueError):
    """An ARPA file that cannot be read; the message names the file and line."""


# ---------------------------------------------------------------------- writing
def write_arpa(model, path):
    order, words = model.order, model._words
    for word in words:
        # ARPA separates the words of an n-gram by whitespace: such a word could not be read back.
        if not word or any(c in " \t\n\r\x0b\x0c" for c in word):  # what the reader splits on
            raise ValueError(f"cannot write {path} as ARPA: the vocabulary has the word {word!r}, and ARPA "
                             f"words must be non-empty and free of ASCII whitespace")
    width = len(words)
    names = np.array(words, dtype=object)
    counts = model.ngram_counts()
    path = os.fspath(path)
    with atomic_write(path, "wb") as raw:
        binary = gzip.GzipFile(fileobj=raw, mode="wb", mtime=0) if path.endswith(".gz") else raw
        f = io.TextIOWrapper(binary, encoding="utf-8", newline="\n")
        try:
            # The leading blank line: older KenLM readers insist on it, the others skip it.
            f.write("\n\\data\\\n")
            f.writelines(f"ngram {k}={c}\n" for k, c in enumerate(counts, start=1))
            rows = np.arange(width)[:, None]
            for k in range(1, order + 1):
                if k > 1:
                    keys = model._keys[k]
                    rows = np.hstack([rows[keys // width], (keys % width)[:, None]])
                f.write(f"\n\\{k}-grams:\n")
                _write_section(f, names, rows, model._logprob[k], model._logbow[k] if k < order else None)
            f.write("\n\\end\\\n")
        finally:
            f.flush()
            f.detach()  # leave the file to atomic_write, which fsyncs and renames it
        if binary is not raw:
            binary.close()  # writes the gzip trailer; the file itself stays open


def _write_section(f, names, rows, logprob, logbow):
    stored = ~np.isnan(logprob)  # NaN: a context kept only to reach longer n-grams
    text = names[rows[stored, 0]]
    for c in range(1, rows.shape[1]):
        text = text + " " + names[rows[stored, c]]
    log10 = logprob[stored] / LN10
    probs = map(repr, np.where(np.isneginf(log10), ZERO_LOG10, log10).tolist())
    if logbow is None:
        lines = map("{}\t{}\n".format, probs, text)
    else:
        # KenLM leaves out a backoff weight of 1 (log10 0); so do we.
        bows = np.full(len(text), "", dtype=object)
        has = np.nonzero(logbow[stored] != 0)[0]
        bows[has] = ["\t" + repr(b) for b in (logbow[stored][has] / LN10).tolist()]
        lines = map("{}\t{}{}\n".format, probs, text, bows)
    # One write per block of lines: a text file's write() has a cost per call.
    while block := "".join(itertools.islice(lines, 1 << 16)):
        f.write(block)


# ---------------------------------------------------------------------- reading
def read_arpa(path, cls):
    path = os.fspath(path)
    try:
        with (gzip.open(path, "rb") if path.endswith(".gz") else open(path, "rb")) as f:
            data = f.read()
    except FileNotFoundError:
        raise
    except (OSError, EOFError) as e:
        raise ArpaFormatError(f"{path}: cannot read: {e}") from None
    # Parsing makes millions of small objects; the cyclic garbage collector
    # would rescan them again and again (none of them is part of a cycle).
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        sections = _Parser(path, data).parse()
        words, mats, logprob, logbow, line_of = _unigrams_last_bos(path, sections)
        keys = _build_tables(path, len(words), mats, logprob, logbow, line_of)
    finally:
        if gc_was_enabled:
            gc.enable()
    model = cls(len(mats) - 1)
    model._set_tables(words, keys, logprob, logbow[:-1])
    return model


class _Parser:
    """Reads the bytes of an ARPA file. The few header lines are read one by one; each n-gram
    section, which can run to millions of lines, is split into fields in one go."""

    def __init__(self, path, data):
        self.path = path
        self.data = data
        self.pos = 3 if data.startswith(b"\xef\xbb\xbf") else 0  # byte offset of the next line (after a BOM)
        self.lineno = 0  # number of the line last read

    def error(self, message, lineno=None):
        return ArpaFormatError(f"{self.path}:{self.lineno if lineno is None else lineno}: {message}")

    def next_line(self):
        """The next line, stripped and decoded; None at the end of the file."""
        if self.pos >= len(self.data):
            return None
        end = self.data.find(b"\n", self.pos)
        end = len(self.data) if end < 0 else end
        line = self.data[self.pos:end]
        self.pos = end + 1
        self.lineno += 1
        # Decoded before stripping, so a UTF-8 error's byte offset counts from the start of the line.
        return self.decode(line).strip(_ASCII_SPACE)

    def next_nonblank(self):
        line = self.next_line()
        while line == "":
            line = self.next_line()
        return line

    def decode(self, raw, lineno=None):
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as e:
            raise self.error(f"not UTF-8 text ({e.reason} at byte {e.start} of the line)", lineno) from None

    def parse(self):
        """Per order k = 1..N: (unigram words | (n, k) id array, log10 probs, log10 backoffs, first line)."""
        line = self.next_line()
        while line is not None and line != "\\data\\":
            line = self.next_line()
        if line is None:
            raise ArpaFormatError(f"{self.path}: no \\data\\ line; is this an ARPA file?")
        counts = []
        line = self.next_nonblank()
        while line is not None and line.startswith("ngram"):
            counts.append(self.parse_count(line, len(counts) + 1))
            line = self.next_nonblank()
        if not counts:
            raise self.error(f"expected 'ngram 1=<count>' after \\data\\, got {line!r}")
        sections, index = [], {}
        for k, expected in enumerate(counts, start=1):
            if line != f"\\{k}-grams:":
                raise self.error(f"expected the section header \\{k}-grams:, got {line!r}")
            sections.append(self.parse_section(k, len(counts), expected, index))
            line = self.next_nonblank()
        if line != "\\end\\":
            raise self.error(f"expected \\end\\ after the {len(counts)}-grams, got {line!r}")
        line = self.next_nonblank()
        if line is not None:
            raise self.error(f"unexpected text after \\end\\: {line[:50]!r}")
        return sections

    def parse_count(self, line, k):
        head, _, count = line[len("ngram"):].partition("=")
        try:
            order, count = int(head), int(count)
        except ValueError:
            raise self.error(f"malformed count line {line!r}; expected 'ngram {k}=<count>'") from None
        if order != k:
            raise self.error(f"count lines must be 'ngram 1=', 'ngram 2=', ... in order; got {line!r}")
        if count < 0:
            raise self.error(f"negative n-gram count in {line!r}")
        return count

    def parse_section(self, k, order, expected, index):
        """The entries of a \\k-grams: section: the lines up to the next blank line or \\ line."""
        first = self.lineno + 1
        end = self.data.find(b"\n\\", self.pos - 1)
        end = len(self.data) if end < 0 else end + 1
        body = self.data[self.pos:end]
        self.pos = end
        raw = np.frombuffer(body, dtype=np.uint8)
        newlines = np.flatnonzero(raw == 10)
        n_lines = len(newlines) + (len(body) > 0 and body[-1:] != b"\n")
        self.lineno += n_lines
        fields_per_line = _fields_per_line(raw, newlines, n_lines)
        blank = np.flatnonzero(fields_per_line == 0)
        n = int(blank[0]) if len(blank) else n_lines
        if np.any(fields_per_line[n:]):
            i = n + int(np.argmax(fields_per_line[n:] > 0))
            self.check_indented_header(k, body, newlines, i, first)
            raise self.error(f"expected \\{k + 1}-grams: or \\end\\ after the blank line that ended the "
                             f"\\{k}-grams:, got {self.line_text(body, newlines, i)!r}", first + i)
        single = np.flatnonzero(fields_per_line[:n] == 1)  # never an entry; perhaps the next header, indented
        if len(single):
            self.check_indented_header(k, body, newlines, int(single[0]), first)
        if n != expected:
            raise self.error(f"the header says 'ngram {k}={expected}' but the \\{k}-grams: section "
                             f"(from line {first}) has {n} entries", first + n)
        counts = fields_per_line[:n]
        wrong = (counts != k + 1) & ((counts != k + 2) | (k == order))
        if wrong.any():
            i = int(np.argmax(wrong))
            if counts[i] == k + 2:
                raise self.error(f"a {k}-gram of the highest order has a backoff weight: "
                                 f"{self.line_text(body, newlines, i)!r}", first + i)
            raise self.error(f"expected 'log10prob w1 ... w{k} [backoff]' in the \\{k}-grams: section, got "
                             f"{counts[i]} fields: {self.line_text(body, newlines, i)!r}", first + i)
        cut = int(newlines[n - 1]) + 1 if n and n <= len(newlines) else len(body)
        fields = np.array(body[:cut].split(), dtype=object)
        starts = np.cumsum(counts) - counts  # index of each line's first field
        probs = self.numbers(fields[starts], np.arange(n), body, newlines, first)
        if n and probs.max() > 0:
            i = int(np.argmax(probs > 0))
            raise self.error(f"positive log10 probability {float(probs[i])!r} (a probability above 1): "
                             f"{self.line_text(body, newlines, i)!r}", first + i)
        bows = np.zeros(n)
        has = np.flatnonzero(counts == k + 2)
        bows[has] = self.numbers(fields[starts[has] + k + 1], has, body, newlines, first)
        words = fields[starts[:, None] + np.arange(1, k + 1)]
        if k == 1:
            grams = []
            for i, w in enumerate(words[:, 0].tolist()):
                try:
                    word = w.decode("utf-8")
                except UnicodeDecodeError as e:
                    self.decode(self.line_bytes(body, newlines, i), first + i)  # raises, naming the byte in the line
                    raise self.error(f"not UTF-8 text ({e.reason})", first + i) from None  # (not reached)
                if w in index:
                    raise self.error(f"the unigram {word!r} appears twice "
                                     f"(first on line {first + index[w]})", first + i)
                index[w] = i
                grams.append(word)
        else:
            flat = words.ravel().tolist()
            grams = np.array(list(map(index.get, flat, itertools.repeat(-1, len(flat)))), dtype=np.int64)
            if len(grams) and grams.min() < 0:
                j = int(np.argmax(grams < 0))
                raise self.error(f"the word {flat[j].decode('utf-8', 'replace')!r} of this {k}-gram is not "
                                 f"among the unigrams: {self.line_text(body, newlines, j // k)!r}", first + j // k)
            grams = grams.reshape(n, k)
        return grams, probs, bows, first

    def check_indented_header(self, k, body, newlines, i, first):
        """Say so if line ``i`` is the header expected after the \\k-grams:, but indented (so not found)."""
        got = self.line_text(body, newlines, i)
        if got in (f"\\{k + 1}-grams:", "\\end\\"):
            raise self.error(f"the section header {got} is indented; it must start its line", first + i)

    def numbers(self, texts, rows, body, newlines, first):
        texts = texts.tolist()
        try:
            values = np.array(list(map(float, texts)), dtype=np.float64)
            bad = np.flatnonzero(np.isnan(values) | (values == np.inf))
            bad = int(bad[0]) if len(bad) else None
        except ValueError:
            bad = next(i for i, t in enumerate(texts) if not _is_float(t))
        if bad is not None:
            i = int(rows[bad])
            raise self.error(f"{texts[bad].decode('utf-8', 'replace')!r} is not a log10 probability or backoff "
                             f"weight: {self.line_text(body, newlines, i)!r}", first + i)
        return values

    @staticmethod
    def line_bytes(body, newlines, i):
        start = int(newlines[i - 1]) + 1 if i > 0 else 0
        end = int(newlines[i]) if i < len(newlines) else len(body)
        return body[start:end]

    @classmethod
    def line_text(cls, body, newlines, i):
        return cls.line_bytes(body, newlines, i).strip().decode("utf-8", "replace")


_ASCII_SPACE = " \t\n\r\x0b\x0c"  # what bytes.strip() and bytes.split() take for white space


def _fields_per_line(raw, newlines, n_lines):
    """How many whitespace-separated fields each line of ``raw`` (bytes as uint8) holds."""
    space = (raw == 32) | ((raw >= 9) & (raw <= 13))  # what bytes.split() splits on
    starts = np.flatnonzero(~space & np.concatenate([[True], space[:-1]]))
    return np.bincount(np.searchsorted(newlines, starts), minlength=n_lines)[:n_lines]


def _is_float(text):
    try:
        float(text)
        return True
    except ValueError:
        return False


def _unigrams_last_bos(path, sections):
    """Arrays per order with ids renumbered so that <s> is the last id; a missing <unk> gets p = 0."""
    unigrams, probs, bows, _ = sections[0]
    for special in (BOS, EOS):
        if special not in unigrams:
            raise ArpaFormatError(f"{path}: the unigrams have no {special}; an ARPA language model needs "
                                  f"{BOS} and {EOS} for sentence boundaries")
    words = [w for w in unigrams if w != BOS]
    probs = list(probs)
    bows = list(bows)
    file_ids = [i for i, w in enumerate(unigrams) if w != BOS]
    if UNK not in unigrams:
        warnings.warn(f"{path}: no {UNK} among the unigrams; words outside the vocabulary get probability 0",
                      stacklevel=4)
        words.append(UNK)
        probs.append(-math.inf)
        bows.append(0.0)
        file_ids.append(len(unigrams))
    words.append(BOS)
    file_ids.append(unigrams.index(BOS))
    renumber = np.empty(len(probs), dtype=np.int64)
    renumber[file_ids] = np.arange(len(file_ids))

    mats, logprob, logbow, line_of = [None], [None], [None], [None]
    uni = np.empty(len(file_ids))
    uni_bow = np.empty(len(file_ids))
    uni[renumber] = probs
    uni_bow[renumber] = bows
    mats.append(np.arange(len(words))[:, None])
    logprob.append(_ln_prob(uni))
    logbow.append(uni_bow * LN10)
    line_of.append(None)
    for k, (grams, p, b, first) in enumerate(sections[1:], start=2):
        ids = np.array(grams, dtype=np.int64).reshape(len(grams), k)
        mats.append(renumber[ids])
        logprob.append(_ln_prob(np.array(p, dtype=np.float64)))
        logbow.append(np.array(b, dtype=np.float64) * LN10)
        line_of.append(np.arange(first, first + len(grams)))
    return words, mats, logprob, logbow, line_of


def _ln_prob(log10_values):
    ln = log10_values * LN10
    ln[log10_values <= ZERO_LOG10] = -np.inf
    return ln


def _build_tables(path, width, mats, logprob, logbow, line_of):
    """Sort each order by (prefix index, last word) into BackoffLM keys; reorders the arrays in place.

    An n-gram whose (k-1)-word prefix is missing (SRILM's pruning can remove
    it) gets that prefix added as a context-only entry (probability NaN,
    backoff 1), as KenLM does, and the tables are rebuilt.
    """
    order = len(mats) - 1
    while True:
        keys = [None, None]
        for k in range(2, order + 1):
            prefix = _find(mats[k][:, :-1], keys, width)
            missing = prefix < 0
            if missing.any():
                extra = np.unique(mats[k][missing, :-1], axis=0)
                mats[k - 1] = np.vstack([mats[k - 1], extra])
                logprob[k - 1] = np.concatenate([logprob[k - 1], np.full(len(extra), np.nan)])
                logbow[k - 1] = np.concatenate([logbow[k - 1], np.zeros(len(extra))])
                line_of[k - 1] = np.concatenate([line_of[k - 1], np.full(len(extra), -1)])
                break
            key = prefix * width + mats[k][:, -1]
            perm = np.argsort(key, kind="stable")
            key = key[perm]
            for arrays in (mats, logprob, logbow, line_of):
                arrays[k] = arrays[k][perm]
            dup = np.nonzero(key[1:] == key[:-1])[0]
            if len(dup):
                i = dup[0]
                lines = sorted(int(line_of[k][j]) for j in (i, i + 1))
                raise ArpaFormatError(f"{path}:{lines[1]}: this {k}-gram already appeared on line {lines[0]}")
            keys.append(key)
        else:
            return keys


def _find(rows, keys, width):
    """Table index of each row's n-gram (-1 where it is not stored), through the tables in ``keys``."""
    node = rows[:, 0].copy()
    for j in range(1, rows.shape[1]):
        found = lookup(keys[j + 1], node * width + rows[:, j])
        node = np.where(node >= 0, found, -1)
    return node
