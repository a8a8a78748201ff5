"""BatchSampler: shuffled mini-batches of indices that a checkpoint can resume mid-epoch."""
import math

import numpy as np

from .. import rng
from ..rng import numpy_seed


class BatchSampler:
    """Index batches over ``num_items`` examples, reshuffled every epoch, resumable at any batch.

        sampler = BatchSampler(len(train_x), batch_size=64, shuffle=True)
        for epoch in range(epochs):
            for idx in sampler:              # idx: int64 array of up to batch_size indices
                loss = step(train_x[idx], train_y[idx])

    The order of epoch ``e`` is a permutation drawn from ``(seed, e)`` alone,
    as ``torch.utils.data.DistributedSampler`` does with ``set_epoch``; so the
    state is just (seed, epoch, position) and a resumed run sees exactly the
    batches an uninterrupted one would. Exhausting the iterator moves on to
    the next epoch by itself, which is why the loop above needs no set_epoch.
    ``seed=None`` draws one from chainrule's generator, so ``cr.manual_seed``
    makes the order reproducible.
    """

    def __init__(self, num_items, batch_size, shuffle=True, seed=None, drop_last=False):
        if num_items < 0 or int(num_items) != num_items:
            raise ValueError(f"BatchSampler: num_items must be a non-negative integer, got {num_items}")
        if batch_size < 1 or int(batch_size) != batch_size:
            raise ValueError(f"BatchSampler: batch_size must be a positive integer, got {batch_size}")
        self.num_items = int(num_items)
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.drop_last = bool(drop_last)
        self.seed = int(rng.generator().integers(2**63)) if seed is None else int(seed)
        self.epoch = 0
        self.position = 0  # batches of the current epoch already handed out

    def __len__(self):
        if self.drop_last:
            return self.num_items // self.batch_size
        return math.ceil(self.num_items / self.batch_size)

    def order(self, epoch=None):
        """The example order of ``epoch`` (the current one by default)."""
        epoch = self.epoch if epoch is None else epoch
        if not self.shuffle:
            return np.arange(self.num_items, dtype=np.int64)
        return np.random.default_rng([numpy_seed(self.seed), epoch]).permutation(self.num_items).astype(np.int64)

    def set_epoch(self, epoch):
        """Start ``epoch`` from its first batch."""
        self.epoch = int(epoch)
        self.position = 0

    def __iter__(self):
        order = self.order()
        n_batches = len(self)
        while self.position < n_batches:
            start = self.position * self.batch_size
            # Count the batch as handed out before yielding it: a checkpoint taken
            # after the caller's step on it must resume with the next one.
            self.position += 1
            yield order[start:start + self.batch_size]
        self.set_epoch(self.epoch + 1)

    @property
    def remaining(self):
        return len(self) - self.position

    def state_dict(self):
        return {"num_items": self.num_items, "batch_size": self.batch_size, "shuffle": self.shuffle,
                "drop_last": self.drop_last, "seed": self.seed, "epoch": self.epoch, "position": self.position}

    def load_state_dict(self, state):
        for key in ("num_items", "batch_size", "shuffle", "drop_last"):
            if state[key] != getattr(self, key):
                raise ValueError(f"BatchSampler: the checkpoint was made with {key}={state[key]!r} but this "
                                 f"sampler has {key}={getattr(self, key)!r}; resuming would not continue the "
                                 "same run (did the data or the batch size change?)")
        self.seed = int(state["seed"])
        self.epoch = int(state["epoch"])
        self.position = int(state["position"])

    def __repr__(self):
        return (f"BatchSampler(num_items={self.num_items}, batch_size={self.batch_size}, shuffle={self.shuffle}, "
                f"seed={self.seed}, epoch={self.epoch}, position={self.position})")
