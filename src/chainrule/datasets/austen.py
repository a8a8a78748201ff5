"""Jane Austen's six novels, from the Debian package ``r-cran-janeaustenr`` (1.0.0-1).

The package is fetched with ``apt-get download`` (nothing is installed) and
unpacked with ``dpkg-deb``; the texts are the character vectors (one element
per printed line) ``sensesensibility``, ``prideprejudice``, ``mansfieldpark``,
``emma``, ``northangerabbey`` and ``persuasion`` in its lazy-load database
``data/Rdata.rdb``, read by :mod:`.rlazyload` (which needs the optional
``rdata`` package).

Cleaning: the front matter before the first chapter heading is dropped, as
are the chapter and volume headings themselves, end marks ("THE END",
"FINIS"), rows of asterisks, and the editor's "A NOTE ON THE TEXT" after
*Northanger Abbey*. Underscores (the e-text's marks for italics) are removed.
The lines of each paragraph (blocks between empty lines) are joined and split
into sentences.

Split by novel: train on *Sense and Sensibility*, *Pride and Prejudice*,
*Mansfield Park* and *Emma*; validate on *Northanger Abbey*; test on
*Persuasion*. Sizes (tokens by :func:`chainrule.text.tokenize`, punctuation
included): train 664,874 / valid 91,203 / test 97,365; sentences 24,335 /
3,538 / 3,559; white-space separated words 556,620 / 76,866 / 83,229.
"""
import re

from .corpus import cached_corpus, make_corpus
from .fetch import apt_download, extract_member

PACKAGE = "r-cran-janeaustenr"
VERSION = "1.0.0-1"
SHA256 = "df6bddf211906d1ff404f8ff662c21b34e6660e7f54a311084e749050c019c95"
DATA = "usr/lib/R/site-library/janeaustenr/data/Rdata"

#: Object name in the R package -> title, in publication order.
NOVELS = {
    "sensesensibility": "Sense and Sensibility",
    "prideprejudice": "Pride and Prejudice",
    "mansfieldpark": "Mansfield Park",
    "emma": "Emma",
    "northangerabbey": "Northanger Abbey",
    "persuasion": "Persuasion",
}
SPLIT = {"northangerabbey": "valid", "persuasion": "test"}  # the others: train

_VERSION = "v2"  # v2: sentence splitting after "No." and "I."
_CHAPTER = re.compile(r"^\s*chapter\s+([0-9]+|[ivxlc]+)\.?\s*$", re.IGNORECASE)
_DROP = re.compile(r"^\s*(?:(?:volume|vol\.)\s+[ivxlc0-9]+\.?|the end|finis|[*\s]+)\s*$", re.IGNORECASE)
_STOP = re.compile(r"^\s*A NOTE ON THE TEXT\s*$")


def load_austen():
    """Jane Austen's novels as a :class:`~chainrule.datasets.Corpus` (split described in the module docstring)."""
    return cached_corpus("austen", _VERSION, _build)


def novel_sentences(lines):
    """The sentences of one novel given as its list of printed lines (cleaning as in the module docstring)."""
    from ..text.tokenizer import split_sentences
    lines = [str(line) for line in lines]
    start = next((i for i, line in enumerate(lines) if _CHAPTER.match(line)), 0)
    paragraphs, current = [], []
    for line in lines[start:]:
        if _STOP.match(line):
            break
        if _CHAPTER.match(line) or (line.strip() and _DROP.match(line)):
            line = ""
        if line.strip():
            current.append(line.replace("_", ""))
        elif current:
            paragraphs.append(" ".join(current))
            current = []
    if current:
        paragraphs.append(" ".join(current))
    return [s for p in paragraphs for s in split_sentences(p)]


def _build():
    from .rlazyload import read_objects
    deb = apt_download(PACKAGE, sha256=SHA256)
    rdx = extract_member(deb, DATA + ".rdx")
    extract_member(deb, DATA + ".rdb")  # read_objects finds it beside the index
    texts = read_objects(rdx, list(NOVELS))
    splits = {"train": [], "valid": [], "test": []}
    for name in NOVELS:
        splits[SPLIT.get(name, "train")].extend(novel_sentences(texts[name]))
    train = [t for n, t in NOVELS.items() if n not in SPLIT]
    info = {"source": f"Debian {PACKAGE} {VERSION}: {DATA}.rdb",
            "split": (f"by novel: train {', '.join(train)}; valid {NOVELS['northangerabbey']}; "
                      f"test {NOVELS['persuasion']}")}
    return make_corpus("austen", splits["train"], splits["valid"], splits["test"], info)
