"""Early stopping on a validation metric, resumable through its state_dict."""
import math


class EarlyStopping:
    """Track the best value of a metric and say when it has stopped improving.

        stopper = EarlyStopping(patience=3, mode="min")     # e.g. validation loss
        for epoch in ...:
            if stopper.step(val_loss):
                save_checkpoint(run.best, model)              # a new best
            if stopper.should_stop:
                break

    A value improves on the best when it is lower by more than ``min_delta``
    (``mode='min'``) or higher by more than ``min_delta`` (``mode='max'``, for
    accuracy). After ``patience`` steps in a row without improvement
    ``should_stop`` becomes True (as in Keras and PyTorch Lightning); ``patience=None`` never stops but still
    tracks the best (useful to keep the best checkpoint). NaN never improves.
    """

    def __init__(self, patience=5, mode="min", min_delta=0.0):
        if mode not in ("min", "max"):
            raise ValueError(f"EarlyStopping mode must be 'min' or 'max', not {mode!r}")
        if patience is not None and patience < 0:
            raise ValueError(f"EarlyStopping patience must be >= 0 or None, got {patience}")
        if min_delta < 0:
            raise ValueError(f"EarlyStopping min_delta must be >= 0, got {min_delta}")
        self.patience = patience
        self.mode = mode
        self.min_delta = float(min_delta)
        self.best = math.inf if mode == "min" else -math.inf
        self.best_step = None      # index (0-based count of step calls) of the best value
        self.num_steps = 0
        self.num_bad_steps = 0

    def is_better(self, value):
        if math.isnan(value):
            return False
        if self.mode == "min":
            return value < self.best - self.min_delta
        return value > self.best + self.min_delta

    def step(self, value):
        """Record one validation value; True when it is a new best."""
        value = float(value)
        improved = self.is_better(value)
        if improved:
            self.best = value
            self.best_step = self.num_steps
            self.num_bad_steps = 0
        else:
            self.num_bad_steps += 1
        self.num_steps += 1
        return improved

    @property
    def should_stop(self):
        # As in Keras and Lightning: stop after `patience` non-improving steps in a row
        # (patience=0 stops at the first one).
        return self.patience is not None and self.num_bad_steps > 0 and self.num_bad_steps >= self.patience

    def state_dict(self):
        return {"patience": self.patience, "mode": self.mode, "min_delta": self.min_delta, "best": self.best,
                "best_step": self.best_step, "num_steps": self.num_steps, "num_bad_steps": self.num_bad_steps}

    def load_state_dict(self, state):
        if state.get("mode", self.mode) != self.mode:
            raise ValueError(f"EarlyStopping state was saved with mode={state['mode']!r}, "
                             f"this one has mode={self.mode!r}")
        # patience and min_delta come from the caller, so a resumed run may change them.
        self.best = float(state["best"])
        self.best_step = state["best_step"]
        self.num_steps = int(state["num_steps"])
        self.num_bad_steps = int(state["num_bad_steps"])

    def __repr__(self):
        return (f"EarlyStopping(patience={self.patience}, mode={self.mode!r}, min_delta={self.min_delta}, "
                f"best={self.best}, num_bad_steps={self.num_bad_steps})")
