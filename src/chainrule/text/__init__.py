"""chainrule.text: from raw text to the integer arrays a model trains on.

    from chainrule.text import tokenize, split_sentences, Vocab, ngram_examples

    sentences = split_sentences(raw_text)
    tokens = [tokenize(s, lower=True) for s in sentences]
    vocab = Vocab.build(tokens, min_count=2)
    X, y = ngram_examples([vocab.encode(t) for t in tokens], context_size=3,
                          bos_id=vocab.bos_id, eos_id=vocab.eos_id)

Named corpora, pretrained word vectors and word-similarity sets are in
``chainrule.datasets``.
"""
from .batching import minibatches, ngram_examples, pad_batch
from .tokenizer import ABBREVIATIONS, split_sentences, tokenize
from .vocab import BOS, BOS_ID, EOS, EOS_ID, PAD, PAD_ID, SPECIALS, UNK, UNK_ID, Vocab

__all__ = ["tokenize", "split_sentences", "ABBREVIATIONS", "Vocab", "ngram_examples", "minibatches", "pad_batch",
           "PAD", "UNK", "BOS", "EOS", "PAD_ID", "UNK_ID", "BOS_ID", "EOS_ID", "SPECIALS"]
