"""An exponential moving average of the weights (Polyak averaging), for evaluating a smoother model.

    ema = optim.ExponentialMovingAverage(model.parameters(), decay=0.9997)
    for batch in data:
        ...; opt.step(); ema.update()
    with ema.average_parameters():       # the model now holds the averaged weights
        evaluate(model)
                                         # and its own weights again here

SGD and Adam end up jittering around a minimum with the size of their last
steps; the average of the recent weights sits closer to its centre, and on a
language model it scores a lower perplexity than the last weights (Polyak &
Juditsky 1992; the same idea as PyTorch's ``torch.optim.swa_utils`` with
``get_ema_multi_avg_fn`` and TensorFlow's ``ExponentialMovingAverage``).

The average is debiased as Adam debiases its moments: after ``t`` updates
it is the weighted mean of the ``t`` values seen, with weights proportional to
``decay ** age``. The first update copies the weights, and the random initial
weights are never part of the average (a plain EMA started from them drags
them along for about ``1 / (1 - decay)`` steps). In place this is
``a <- a + w_t (p - a)`` with ``w_t = (1 - decay) / (1 - decay ** t)``.
"""
from contextlib import contextmanager

import numpy as np

from ..function import mark_changed


class ExponentialMovingAverage:
    def __init__(self, params, decay=0.999):
        if not 0 < decay < 1:
            raise ValueError(f"ExponentialMovingAverage: decay must be in (0, 1), got {decay}")
        self.params = [p for p in params if p.requires_grad]
        if not self.params:
            raise ValueError("ExponentialMovingAverage: no trainable parameters to average")
        self.decay = float(decay)
        self.num_updates = 0
        self.shadow = [p.data.copy() for p in self.params]
        # One buffer per dtype, reused by every update, so updating allocates nothing (and each
        # parameter's step is computed in its own precision).
        self._scratch = {}
        for a in self.shadow:
            size = max(a.size, self._scratch[a.dtype].size if a.dtype in self._scratch else 0)
            self._scratch[a.dtype] = np.empty(size, dtype=a.dtype)

    def update(self):
        """Move the average towards the parameters' current values: a <- a + w_t (p - a)."""
        self.num_updates += 1
        weight = (1.0 - self.decay) / (1.0 - self.decay ** self.num_updates)
        for average, p in zip(self.shadow, self.params):
            step = self._scratch[average.dtype][:average.size].reshape(average.shape)
            np.subtract(p.data, average, out=step)
            step *= weight
            average += step

    def copy_to(self):
        """Write the averaged values into the parameters (for good: ``average_parameters`` undoes it)."""
        for average, p in zip(self.shadow, self.params):
            p.data[...] = average
            mark_changed(p)

    @contextmanager
    def average_parameters(self):
        """Inside the ``with``, the parameters hold the averaged values; afterwards their own again."""
        saved = [p.data.copy() for p in self.params]
        self.copy_to()
        try:
            yield self
        finally:
            for value, p in zip(saved, self.params):
                p.data[...] = value
                mark_changed(p)

    def state_dict(self):
        return {"decay": self.decay, "num_updates": self.num_updates,
                "shadow": {str(i): a.copy() for i, a in enumerate(self.shadow)}}

    def load_state_dict(self, state):
        shadow = state["shadow"]
        if len(shadow) != len(self.shadow):
            raise ValueError(f"ExponentialMovingAverage: the saved state averages {len(shadow)} parameters, "
                             f"this one {len(self.shadow)}")
        for i, average in enumerate(self.shadow):
            saved = np.asarray(shadow[str(i)])
            if saved.shape != average.shape:
                raise ValueError(f"ExponentialMovingAverage: parameter {i} has shape {average.shape} "
                                 f"but the saved average has {saved.shape}")
            average[...] = saved
        self.decay, self.num_updates = float(state["decay"]), int(state["num_updates"])
