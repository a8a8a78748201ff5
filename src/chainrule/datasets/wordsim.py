"""Word-similarity evaluation: do the vectors rank word pairs as people do?

Two standard sets of pairs with human similarity scores, both taken from the
test data inside the ``gensim`` 4.4.0 wheel on PyPI (downloaded, never
installed): WordSimilarity-353 (relatedness: "coffee"/"cup" scores high) and
SimLex-999 (similarity proper: antonyms and merely related words score low).

:func:`evaluate_similarity` follows gensim's ``evaluate_word_pairs`` with its
defaults: pairs with a word missing from the vectors are skipped (and counted
in ``oov_rate``), the comparison ignores case by default (when a vocabulary
holds several case variants, the first, i.e. most frequent, is used), and
the score is Spearman's rank correlation between the cosine similarities and
the human scores. gensim also skips words beyond the first 300,000 of the
vocabulary; here that is ``restrict_vocab=300000`` and off by default.
"""
import numpy as np

from .errors import DataError
from .fetch import extract_member, pip_download

GENSIM_REQUIREMENT = "gensim==4.4.0"
GENSIM_SHA256 = "91a7fa5e814e7b1bad4b2dffa8d62c1e55410d5cbdf930714c1997ffb4404db8"
# gensim ships only platform wheels; ask for one fixed wheel so that every
# machine downloads the same file, whatever its own Python and platform.
GENSIM_WHEEL_ARGS = ("--only-binary=:all:", "--platform", "manylinux_2_28_x86_64", "--python-version", "3.11",
                     "--implementation", "cp", "--abi", "cp311")
_TEST_DATA = "gensim/test/test_data/"


def _gensim_test_file(name):
    wheel = pip_download(GENSIM_REQUIREMENT, sha256=GENSIM_SHA256, pip_args=GENSIM_WHEEL_ARGS)
    return extract_member(wheel, _TEST_DATA + name)


def load_word_pairs(path, delimiter="\t"):
    """Read ``word1<TAB>word2<TAB>score`` lines (``#`` starts a comment line) into (w1, w2, score) tuples."""
    pairs = []
    with open(path, "rb") as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8").rstrip("\r\n")
            except UnicodeDecodeError as e:
                raise DataError(f"{path}:{lineno}: invalid UTF-8 at column {e.start + 1} ({e.reason})") from None
            if lineno == 1:
                line = line.removeprefix("\ufeff")
            if not line.strip() or line.startswith("#"):
                continue
            fields = line.split(delimiter)
            if len(fields) != 3:
                raise DataError(f"{path}:{lineno}: expected 3 fields (word, word, score), found {len(fields)}")
            try:
                score = float(fields[2])
            except ValueError:
                raise DataError(f"{path}:{lineno}: score {fields[2]!r} is not a number") from None
            pairs.append((fields[0], fields[1], score))
    if not pairs:
        raise DataError(f"{path}: no word pairs in the file")
    return pairs


def load_wordsim353():
    """WordSimilarity-353: 353 (word1, word2, score 0-10) tuples."""
    return load_word_pairs(_gensim_test_file("wordsim353.tsv"))


def load_simlex999():
    """SimLex-999: 999 (word1, word2, score 0-10) tuples."""
    return load_word_pairs(_gensim_test_file("simlex999.txt"))


#: Names ``evaluate_similarity`` accepts in place of a list of pairs.
WORD_PAIR_SETS = {"wordsim353": load_wordsim353, "simlex999": load_simlex999}


def rankdata(x):
    """Ranks 1..n of ``x``, ties given the average of the ranks they span (as scipy's ``rankdata``)."""
    x = np.asarray(x, dtype=np.float64).reshape(-1)
    n = len(x)
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    new_group = np.concatenate([[True], xs[1:] != xs[:-1]]) if n else np.array([], dtype=bool)
    group = np.cumsum(new_group) - 1
    # Each tie group gets the mean of the positions it occupies.
    mean_rank = np.bincount(group, weights=np.arange(1, n + 1)) / np.bincount(group)
    ranks = np.empty(n)
    ranks[order] = mean_rank[group]
    return ranks


def pearson(x, y):
    """Pearson correlation of two equal-length sequences (NaN if either is constant or n < 2)."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.shape != y.shape or x.ndim != 1:
        raise ValueError(f"pearson needs two 1-D sequences of equal length, got shapes {x.shape} and {y.shape}")
    if len(x) < 2:
        return float("nan")
    dx, dy = x - x.mean(), y - y.mean()
    denom = np.sqrt((dx @ dx) * (dy @ dy))
    return float(dx @ dy / denom) if denom > 0 else float("nan")


def spearman(x, y):
    """Spearman's rank correlation: the Pearson correlation of the (tie-averaged) ranks.

    NaN if any value is NaN, as in scipy: ranking would put a NaN last and
    give a plausible-looking correlation for broken vectors.
    """
    x, y = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    if np.isnan(x).any() or np.isnan(y).any():
        return float("nan")
    return pearson(rankdata(x), rankdata(y))


def evaluate_similarity(vectors, pairs, lower=True, restrict_vocab=None):
    """Correlate the vectors' cosine similarities with human scores on ``pairs``.

    ``vectors``: a :class:`~chainrule.datasets.vectors.KeyedVectors`.
    ``pairs``: (w1, w2, score) tuples, or ``"wordsim353"`` / ``"simlex999"``.
    ``lower``: compare case-insensitively. ``restrict_vocab``: only the first
    that many words of the vectors count as known. Returns a dict with
    ``spearman``, ``pearson``, ``pairs_used`` and ``oov_rate`` (the fraction
    of pairs skipped because a word was missing).
    """
    if isinstance(pairs, str):
        if pairs not in WORD_PAIR_SETS:
            raise DataError(f"unknown word-pair set {pairs!r} (known: {', '.join(WORD_PAIR_SETS)})")
        pairs = WORD_PAIR_SETS[pairs]()
    words = vectors.words if restrict_vocab is None else vectors.words[:restrict_vocab]
    norm = str.lower if lower else (lambda w: w)
    index = {}
    for i, w in enumerate(words):
        index.setdefault(norm(w), i)  # the first (most frequent) case variant wins
    rows_a, rows_b, gold = [], [], []
    for w1, w2, score in pairs:
        a, b = index.get(norm(w1)), index.get(norm(w2))
        if a is None or b is None:
            continue
        rows_a.append(a)
        rows_b.append(b)
        gold.append(score)
    n_pairs = len(pairs)
    if n_pairs == 0:
        raise ValueError("evaluate_similarity needs at least one pair")
    m = vectors.matrix.astype(np.float64)
    u, v = m[rows_a], m[rows_b]
    norms = np.linalg.norm(u, axis=1) * np.linalg.norm(v, axis=1)
    cos = np.einsum("ij,ij->i", u, v) / np.where(norms > 0, norms, 1)
    return {"spearman": spearman(cos, gold), "pearson": pearson(cos, gold), "pairs_used": len(gold),
            "oov_rate": 1 - len(gold) / n_pairs}
