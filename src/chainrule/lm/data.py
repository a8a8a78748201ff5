"""A corpus made ready for language modelling: tokens, a vocabulary from the training split, and ids.

Every model in ``chainrule.lm`` (neural, Kneser-Ney, mixture) reads its data
from one ``LMData``, so they see the same tokens, map the same words to
``<unk>``, and score the same N = words + one ``</s>`` per sentence.
"""
from dataclasses import dataclass, field

from ..datasets import SPLITS, Corpus, load_corpus
from ..text import Vocab, ngram_examples


@dataclass
class LMData:
    """``tokens[split]``: token lists as tokenized (rare words not yet replaced);
    ``ids[split]``: the same sentences as vocabulary ids (rare words -> ``<unk>``)."""

    name: str
    vocab: Vocab
    tokens: dict
    ids: dict
    info: dict = field(default_factory=dict)
    _examples: dict = field(default_factory=dict, repr=False)

    def examples(self, split, context_size):
        """``(X (N, context_size), y (N,))`` int64 for ``split``, cached."""
        key = (split, context_size)
        if key not in self._examples:
            try:
                # Only a training split too short for the context is a mistake in the settings;
                # validation and test sentences are scored whatever their length, as the n-gram models do.
                self._examples[key] = ngram_examples(self.ids[split], context_size, self.vocab.bos_id,
                                                     self.vocab.eos_id, check_length=split == "train")
            except ValueError as e:
                raise ValueError(f"{self.name} ({split} split): {e}") from None
        return self._examples[key]

    def n_tokens(self, split):
        """The number of tokens every model scores on ``split``: words plus one ``</s>`` per sentence."""
        return sum(len(s) + 1 for s in self.ids[split])

    def oov_rate(self, split):
        return self.vocab.unk_rate(self.tokens[split])


def prepare_data(corpus, lower=False, min_count=1, max_vocab=None, vocab=None):
    """Tokenize ``corpus`` (a name, a path or a Corpus), build the vocabulary on its training
    split (unless ``vocab`` is given, as when resuming) and encode every split."""
    if not isinstance(corpus, Corpus):
        corpus = load_corpus(corpus)
    tokens = {split: corpus.tokenized(split, lower=lower) for split in SPLITS}
    for split in SPLITS:
        if not any(tokens[split]):
            raise ValueError(f"corpus {corpus.name!r}: the {split} split has no tokens")
    if vocab is None:
        try:
            vocab = Vocab.build(tokens["train"], min_count=min_count, max_size=max_vocab)
        except ValueError as e:
            raise ValueError(f"corpus {corpus.name!r}: {e}") from None
    ids = {split: [vocab.encode(s) for s in tokens[split]] for split in SPLITS}
    return LMData(name=corpus.name, vocab=vocab, tokens=tokens, ids=ids, info=dict(corpus.info))
