"""N-gram language models: interpolated modified Kneser-Ney, and ARPA files.

    from chainrule.models.ngram import KneserNeyLM
    lm = KneserNeyLM(order=3).fit(train_sentences, vocab=vocab)
    lm.perplexity(test_sentences)
    lm.to_arpa("kjv.3.arpa")                  # KenLM and SRILM read it
    BackoffLM.from_arpa("kjv.3.arpa")         # or any ARPA file, scored with standard backoff
"""
from .arpa import ArpaFormatError
from .backoff import BOS, EOS, UNK, BackoffLM
from .kneser_ney import PAD, DiscountWarning, KneserNeyLM

__all__ = ["BOS", "EOS", "PAD", "UNK", "ArpaFormatError", "BackoffLM", "DiscountWarning", "KneserNeyLM"]
