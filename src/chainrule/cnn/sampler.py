"""Mini-batches of sentences of similar length, so that a batch carries little padding.

Sentences are padded to the longest in their batch, and the convolutions cost
the padded length. Random batches of 50 movie-review sentences are padded to
nearly the longest sentence of the whole set (60 words, against a mean of
21); batches of similar lengths cut the work about in half. The TextCNN's
pooling ignores padding, so this changes which sentences share a batch, not
what any sentence contributes.
"""
import numpy as np

from ..rng import numpy_seed
from ..train import BatchSampler


class LengthBucketSampler(BatchSampler):
    """A BatchSampler (same state, same resume) whose batches group sentences of similar length.

    Each epoch shuffles the sentences (seeded by (seed, epoch), as
    BatchSampler does), sorts each run of ``pool`` batches' worth of them by
    length, cuts the runs into batches, and shuffles the order of the full
    batches; a last partial batch, if any, comes last.
    """

    def __init__(self, lengths, batch_size, seed=None, pool=50):
        super().__init__(len(lengths), batch_size, shuffle=True, seed=seed)
        self.lengths = np.asarray(lengths)
        self.pool = int(pool)

    def order(self, epoch=None):
        epoch = self.epoch if epoch is None else epoch
        g = np.random.default_rng([numpy_seed(self.seed), epoch])
        perm = g.permutation(self.num_items)
        chunk = self.batch_size * self.pool
        runs = [perm[i:i + chunk] for i in range(0, self.num_items, chunk)]
        order = np.concatenate([r[np.argsort(self.lengths[r], kind="stable")] for r in runs]) if runs else perm
        full = self.num_items // self.batch_size * self.batch_size
        batches = order[:full].reshape(-1, self.batch_size)
        batches = batches[g.permutation(len(batches))]
        return np.concatenate([batches.reshape(-1), order[full:]]).astype(np.int64)
