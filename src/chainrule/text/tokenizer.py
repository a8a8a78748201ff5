"""Splitting text into words and sentences, for any script that Unicode covers.

Tokens
------
``tokenize(text)`` first normalises the text to NFC (so an accent typed as a
separate combining mark and a precomposed letter give the same token), then
reads it left to right:

* A **word** is a run of letters, digits and combining marks (Unicode
  categories L, N and M). An apostrophe or a hyphen *between* two such
  characters joins them into one word, so contractions, possessives and
  compounds stay whole: ``don't``, ``Walter's``, ``o'clock``, ``twenty-one``,
  ``mother-in-law``. A typographic apostrophe inside a word (``don’t``) is
  written as the ASCII one, so both spellings are the same vocabulary entry.
* A **number** with decimal or thousands separators stays whole: ``3.14``,
  ``1,000``.
* Everything else that is not white space is **punctuation**: each character
  is a token, except that a run of the same character is one token (``--``,
  ``...``, ``!!``), and combining marks after a symbol stay with it (the
  invisible emoji selector of ``❤️``). Quotes of every kind, dashes, brackets,
  ``_`` and symbols are punctuation, so ``"apple."`` gives ``apple`` and
  ``.``; an apostrophe not between two letters (a quote, or ``'tis``,
  ``boys'``) is its own token.
* ``<unk>`` is one token: corpora such as Penn Treebank and WikiText write
  their rare words that way, and the vocabulary counts it as its special.

Examples::

    >>> tokenize("“Don’t,” she said—twice. It cost £3.50!")
    ['“', "Don't", ',', '”', 'she', 'said', '—', 'twice', '.', 'It', 'cost', '£', '3.50', '!']
    >>> tokenize("Café au lait... naïve well-being", lower=True)
    ['café', 'au', 'lait', '...', 'naïve', 'well-being']

Sentences
---------
``split_sentences(text)`` ends a sentence after ``.``, ``!`` or ``?`` (any
run of them, plus closing quotes or brackets that follow) when what comes next
is white space and then an upper-case letter or an opening quote or bracket,
or the end of the text. A full stop does not end a sentence after a common
title or abbreviation (``Mr.``, ``Mrs.``, ``Dr.``, ``St.``, ... see
``ABBREVIATIONS``) or after a single capital initial (``J. Smith``)::

    >>> split_sentences('Mr. Smith went to Washington. "Why?" he asked! it rained.')
    ['Mr. Smith went to Washington.', '"Why?" he asked! it rained.']

Both functions are deterministic and keep no state.
"""
import functools
import re
import sys
import unicodedata

#: Words after which a full stop is an abbreviation, not the end of a sentence
#: (compared case-sensitively, without the full stop).
ABBREVIATIONS = frozenset({
    "Mr", "Mrs", "Ms", "Messrs", "Dr", "St", "Jr", "Sr", "Prof", "Rev", "Hon", "Capt", "Col", "Gen", "Lt",
    "Sgt", "Mt", "No", "Vol", "vol", "vs", "viz", "cf", "e.g", "i.e", "Esq",
})

# Apostrophes and hyphens that join two word characters into one word.
_APOSTROPHES = "'\u2019\u02bc"            # ' ’ ʼ
_HYPHENS = "\\-\u2010\u2011"              # - ‐ (hyphen) ‑ (non-breaking hyphen)

# Closing quotes and brackets that stay with the sentence they end, and the
# openers that may start the next one.
_CLOSERS = "\"'\u201d\u2019\u00bb)\\]"
_OPENERS = frozenset("\"'\u201c\u2018\u00ab([")


@functools.cache
def _mark_class():
    """A regex character class of every combining mark (Unicode category M).

    Python's ``\\w`` leaves them out, which would cut words in Hindi, Thai or
    decomposed Latin apart. Marks live in planes 0, 1 and 14 only; scanning
    those takes about 0.2 s, once per process, and only when some text has a
    character from U+0300 on.
    """
    ranges = []
    for lo, hi in ((0, 0x1FFFF), (0xE0000, min(0xE01FF, sys.maxunicode))):
        start = None
        for cp in range(lo, hi + 2):
            is_mark = cp <= hi and unicodedata.category(chr(cp)).startswith("M")
            if is_mark and start is None:
                start = cp
            elif not is_mark and start is not None:
                ranges.append(f"\\U{start:08x}-\\U{cp - 1:08x}")
                start = None
    return "[" + "".join(ranges) + "]"


def _token_pattern(w, marks=""):
    """The token regex for a word-character class ``w`` (which may include ``_``; see tokenize).

    ``marks``: a class of combining marks, which a symbol keeps after it.
    """
    number = r"\d+(?:[.,]\d+)+(?!\w)"
    word = f"{w}+(?:[{_APOSTROPHES}{_HYPHENS}]{w}+)*"
    punct = r"([^\w\s])\1*"  # group 1 is the character; \1* keeps a run of it together
    if marks:
        punct += marks + "*"
    return re.compile(f"<unk>|{number}|{word}|{punct}")


# Plain \w is much faster than a class listing every mark, and text without a
# character from U+0300 on cannot hold a combining mark, so most text takes it.
_FAST_RE = _token_pattern(r"\w")
_MAY_HOLD_MARKS = re.compile("[^\x00-\u02ff]")


@functools.cache
def _full_re():
    return _token_pattern("[\\w" + _mark_class()[1:-1] + "]", _mark_class())


_UNDERSCORES = re.compile(r"_+|[^_]+")


# An apostrophe-like character between two word characters (with marks, for text that may hold them).
_INNER_APOSTROPHE = re.compile(f"(?<=\\w)[{_APOSTROPHES[1:]}](?=\\w)")


@functools.cache
def _full_inner_apostrophe():
    w = "[\\w" + _mark_class()[1:-1] + "]"
    return re.compile(f"(?<={w})[{_APOSTROPHES[1:]}](?={w})")


def tokenize(text, lower=False):
    """Split ``text`` into word and punctuation tokens (rules in the module docstring).

    ``lower=True`` lower-cases the tokens. Returns a list of strings.
    """
    if not isinstance(text, str):
        raise TypeError(f"tokenize expects a str, got {type(text).__name__}")
    text = unicodedata.normalize("NFC", text)
    marks = _MAY_HOLD_MARKS.search(text) is not None
    text = (_full_inner_apostrophe() if marks else _INNER_APOSTROPHE).sub("'", text)
    if lower:
        text = text.lower()
    pattern = _full_re() if marks else _FAST_RE
    tokens = [m.group(0) for m in pattern.finditer(text)]
    # \w counts "_" as a letter, but it is punctuation here (it marks
    # emphasis in plain-text books): split it out of the rare words holding it.
    if "_" in text:
        tokens = [part for tok in tokens for part in (_UNDERSCORES.findall(tok) if "_" in tok else (tok,))]
    return tokens


# A candidate sentence end: terminal punctuation, closers, then white space or the end.
_END = re.compile(f"[.!?]+[{_CLOSERS}]*(?=\\s|$)")
_WORD_BEFORE = re.compile(r"([\w.]+)$")


def split_sentences(text):
    """Split ``text`` into sentences (rules in the module docstring).

    White space inside each sentence is collapsed to single spaces; empty
    sentences are dropped. Returns a list of strings.
    """
    if not isinstance(text, str):
        raise TypeError(f"split_sentences expects a str, got {type(text).__name__}")
    text = " ".join(text.split())
    sentences = []
    start = 0
    for m in _END.finditer(text):
        end = m.end()
        rest = text[end:].lstrip()
        if rest:
            nxt = rest[0]
            if not (nxt.isupper() or nxt in _OPENERS):
                continue
        if m.group(0) == "." and _is_abbreviation(text[start:m.start()]):
            continue
        sentence = text[start:end].strip()
        if sentence:
            sentences.append(sentence)
        start = end
    tail = text[start:].strip()
    if tail:
        sentences.append(tail)
    return sentences


def _is_abbreviation(before):
    """Whether the word right before a lone full stop makes it an abbreviation."""
    m = _WORD_BEFORE.search(before)
    if not m:
        return False
    word = m.group(1)
    return word in ABBREVIATIONS or (len(word) == 1 and word.isupper())
