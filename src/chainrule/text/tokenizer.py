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
  The zero-width non-joiner and joiner inside a word are part of it (they
  belong to the spelling of Persian and of Indic scripts).
* A **number** with decimal or thousands separators stays whole, with a unit
  written onto it: ``3.14``, ``1,000``, ``3.5mm``.
* Everything else that is not white space is **punctuation**: each character
  is a token, except that a run of the same character is one token (``--``,
  ``...``, ``!!``), and combining marks after a symbol stay with it (the
  invisible emoji selector of ``❤️``), as do skin-tone modifiers, and a
  zero-width joiner joins emoji into one token (``👨‍👩‍👧``). Quotes of every kind, dashes, brackets,
  ``_`` and symbols are punctuation, so ``"apple."`` gives ``apple`` and
  ``.``; an apostrophe not between two letters (a quote, or ``'tis``,
  ``boys'``) is its own token.
* Invisible characters that only affect display (soft hyphen, direction
  marks, word joiner, byte-order mark) are dropped; a zero-width space
  separates words, as a space does.
* ``<unk>`` is one token: corpora such as Penn Treebank and WikiText write
  their rare words that way, and the vocabulary counts it as its special.

Examples::

    >>> tokenize("“Don’t,” she said—twice. It cost £3.50!")
    ['“', "Don't", ',', '”', 'she', 'said', '—', 'twice', '.', 'It', 'cost', '£', '3.50', '!']
    >>> tokenize("Café au lait... naïve well-being", lower=True)
    ['café', 'au', 'lait', '...', 'naïve', 'well-being']

Sentences
---------
``split_sentences(text)`` ends a sentence after ``.``, ``!`` or ``?`` (or
the Arabic ``؟``, Urdu ``۔`` and Devanagari ``।``; any run of them, plus
closing quotes or brackets that follow) when what comes next is white space
and then an upper-case letter, a letter of a script without case, or an
opening quote or bracket (``¿`` and ``¡`` too), or the end of the text. The
Chinese and Japanese ``。！？`` end a sentence with no space after them. A
full stop does not end a sentence after a common title or abbreviation
(``Mr.``, ``Mrs.``, ``Dr.``, ``St.``, ... see ``ABBREVIATIONS``) or after a
single capital initial (``J. Smith``; the pronoun ``I`` is not one)::

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
    "Sgt", "Mt", "Vol", "vol", "vs", "viz", "cf", "e.g", "i.e", "Esq",
})
# ("No." is left out: before a number it never ends a sentence anyway, since a digit is not upper
# case, and as the word "No." it usually does.)

# Apostrophes and hyphens that join two word characters into one word.
_APOSTROPHES = "'\u2019\u02bc"            # ' ’ ʼ
_HYPHENS = "\\-\u2010\u2011"              # - ‐ (hyphen) ‑ (non-breaking hyphen)
_JOINERS = "[\u200c\u200d]"                 # zero-width non-joiner and joiner
_EMOJI_MODIFIERS = "[\U0001f3fb-\U0001f3ff]"  # skin tones (category Sk, so not marks)
# A joiner at the edge of a word ("word\u200c and") joins nothing and would make "word" a second
# vocabulary entry: dropped. (After a virama, as in older Malayalam text, it stays: a mark is not \w.)
_STRAY_JOINERS = re.compile("(?<=\\w)[\u200c\u200d]+(?!\\w)|(?<!\\w)[\u200c\u200d]+(?=\\w)")
# Invisible characters that only affect display (soft hyphen, direction marks, word joiner,
# byte-order mark): dropped, so "co\u00adoperate" is "cooperate". The zero-width space marks a
# word boundary (Thai, Khmer), so it separates words as a space does.
_IGNORABLE = re.compile("[\u00ad\u061c\u200e\u200f\u202a-\u202e\u2060\u2066-\u2069\ufeff]")
_ZERO_WIDTH_SPACE = "\u200b"

# Closing quotes and brackets that stay with the sentence they end, and the
# openers that may start the next one.
_CLOSERS = "\"'\u201d\u2019\u00bb)\\]\u300d\u300f\uff09"
_OPENERS = frozenset("\"'\u201c\u2018\u00ab([\u00bf\u00a1\u300c\u300e\uff08")


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

    ``marks``: a class of combining marks, which a symbol keeps after it. Only
    text with characters from U+0300 on gets a pattern with marks, and only
    such text can hold the joiners and emoji modifiers, so the fast pattern
    leaves them out.
    """
    # A unit written onto a number stays with it ("3.5mm", "1,000s"), as "5mm" stays one word.
    number = f"\\d+(?:[.,]\\d+)+{w}*"
    if marks:
        # ZWNJ and ZWJ inside a word are part of its spelling (Persian, Indic scripts).
        word = f"{w}+(?:[{_APOSTROPHES}{_HYPHENS}]{w}+|{_JOINERS}+{w}*)*"
        # A symbol keeps its marks and skin-tone modifiers, and ZWJ joins emoji into one (👨‍👩‍👧).
        after = f"(?:{marks}|{_EMOJI_MODIFIERS})*"
        punct = f"([^\\w\\s])\\1*{after}(?:\u200d[^\\w\\s]{after})*"
    else:
        word = f"{w}+(?:[{_APOSTROPHES}{_HYPHENS}]{w}+)*"
        punct = r"([^\w\s])\1*"  # group 1 is the character; \1* keeps a run of it together
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
    if _IGNORABLE.search(text):
        text = _IGNORABLE.sub("", text)
    if _ZERO_WIDTH_SPACE in text:
        text = text.replace(_ZERO_WIDTH_SPACE, " ")
    if lower:
        # Before the pattern is chosen: lower-casing can add a mark ("İ" becomes "i" + U+0307).
        text = text.lower()
    marks = _MAY_HOLD_MARKS.search(text) is not None
    if marks and ("\u200c" in text or "\u200d" in text):
        text = _STRAY_JOINERS.sub("", text)
    text = (_full_inner_apostrophe() if marks else _INNER_APOSTROPHE).sub("'", text)
    pattern = _full_re() if marks else _FAST_RE
    tokens = [m.group(0) for m in pattern.finditer(text)]
    # \w counts "_" as a letter, but it is punctuation here (it marks
    # emphasis in plain-text books): split it out of the rare words holding it.
    if "_" in text:
        tokens = [part for tok in tokens for part in (_UNDERSCORES.findall(tok) if "_" in tok else (tok,))]
    return tokens


# A candidate sentence end: terminal punctuation (. ! ? and the Arabic, Urdu and Devanagari ones),
# closers, then white space or the end; or the ideographic full stop and marks of Chinese and
# Japanese, which end a sentence without a space after them.
_END = re.compile(f"[.!?\u061f\u06d4\u0964\u0965]+[{_CLOSERS}]*(?=\\s|$)|[\u3002\uff01\uff1f]+[{_CLOSERS}]*")
_CJK_ENDS = "\u3002\uff01\uff1f"
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
        if rest and m.group(0)[0] not in _CJK_ENDS:
            nxt = rest[0]
            # A letter without case (Arabic, Hindi, Chinese, ...) may start a sentence too.
            caseless = nxt.isalpha() and not nxt.islower() and not nxt.isupper()
            if not (nxt.isupper() or caseless or nxt in _OPENERS):
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
    # A single capital is an initial (J. Smith), except the pronoun I.
    return word in ABBREVIATIONS or (len(word) == 1 and word.isupper() and word != "I")
