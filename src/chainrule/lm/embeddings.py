"""Word embeddings as things of their own: those a NeuralLM learned, or pretrained ones.

A *source* is a run directory of ``chainrule lm train`` (its embedding table,
one row per vocabulary word), a word-vectors file (word2vec text or binary,
GloVe text) or a named set such as ``glove-6b-50d``. From any source:

* ``export_word2vec(source, path)`` writes word2vec text format, which gensim,
  fastText tools and chainrule itself read back;
* ``neighbors(vectors, word, k)`` lists cosine nearest neighbours;
* ``evaluate(vectors)`` gives the Spearman correlation with human similarity
  judgements on WordSim-353 and SimLex-999, with the share of pairs skipped
  because a word is out of vocabulary.

``vectors_for_vocab`` goes the other way, lining pretrained vectors up with a
vocabulary so that a NeuralLM can start from them.
"""
from pathlib import Path

import numpy as np

from ..datasets import KeyedVectors, evaluate_similarity, load_vectors, save_word2vec_text
from ..rng import numpy_seed
from ..text import SPECIALS

SIMILARITY_SETS = ("wordsim353", "simlex999")


def is_run_dir(source):
    return Path(source).is_dir() and (Path(source) / "config.json").is_file()


def run_vectors(run_dir, which="best"):
    """The embedding table of a trained language model as KeyedVectors (special tokens left out)."""
    from .run import load_run

    run = load_run(run_dir, which=which)
    words = run.vocab.itos
    keep = [i for i, w in enumerate(words) if w not in SPECIALS]
    matrix = run.model.embedding.weight.data[keep]
    return KeyedVectors([words[i] for i in keep], matrix)


def load_any(source):
    """KeyedVectors from a run directory, a vectors file, a vectors name, or KeyedVectors themselves."""
    if isinstance(source, KeyedVectors):
        return source
    if is_run_dir(source):
        return run_vectors(source)
    if Path(source).is_dir():
        raise FileNotFoundError(f"{source} is a directory without config.json: not a language-model run "
                                f"(expected the --out directory of 'chainrule lm train')")
    return load_vectors(source)


def export_word2vec(source, path):
    """Write the vectors of ``source`` to ``path`` in word2vec text format; returns their number."""
    vectors = load_any(source)
    save_word2vec_text(path, vectors.words, vectors.matrix)
    return len(vectors)


def neighbors(source, word, k=10):
    """The ``k`` nearest words to ``word`` by cosine similarity, as (word, cosine) pairs.

    A word missing as written is looked up lower-cased too (and the other
    way round), since runs may be trained on lower-cased text.
    """
    vectors = load_any(source)
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    for candidate in (word, word.lower(), word.capitalize()):
        if candidate in vectors:
            return vectors.nearest(candidate, k)
    raise KeyError(f"{word!r} is not among the {len(vectors):,} words of these vectors")


def evaluate(source, sets=SIMILARITY_SETS):
    """``{set name: {"spearman", "pearson", "pairs_used", "oov_rate"}}`` for each word-similarity set."""
    vectors = load_any(source)
    return {name: evaluate_similarity(vectors, name) for name in sets}


def vectors_for_vocab(source, vocab, seed=0):
    """A (len(vocab), D) float32 matrix whose row i is the pretrained vector of ``vocab.itos[i]``.

    A word is looked up as written, then lower-cased. Words with no vector
    (and the special tokens) get random rows with the same per-dimension
    spread as the pretrained ones. Returns ``(matrix, n_found)``.
    """
    vectors = load_any(source)
    spread = vectors.matrix.std(axis=0).astype(np.float32)
    out = np.random.default_rng(numpy_seed(seed)).standard_normal((len(vocab), vectors.dim)).astype(np.float32) * spread
    found = 0
    for i, word in enumerate(vocab.itos):
        if word in SPECIALS:
            continue
        row = vectors.index.get(word)
        if row is None:
            row = vectors.index.get(word.lower())
        if row is not None:
            out[i] = vectors.matrix[row]
            found += 1
    if found == 0:
        raise ValueError(f"none of the {len(vocab) - len(SPECIALS):,} vocabulary words has a vector in {source}")
    return out, found
