"""Feature standardisation fitted on training data: x -> (x - mean) / std, column by column.

Gradient descent on raw features of very different scales (areas in the
thousands next to ratios below one) zig-zags; after standardising, every
feature has mean 0 and variance 1 on the training set. The statistics come
from the training split only and are reused unchanged on held-out data.
"""
import numpy as np

from .tensor import Tensor


class Standardizer:
    """Fit ``mean_`` and ``scale_`` on training data, then ``transform`` any data with them.

        scaler = Standardizer().fit(x_train)
        x_train, x_test = scaler.transform(x_train), scaler.transform(x_test)

    A column that is constant in the training data gets scale 1 (it becomes
    all zeros instead of a division by zero), as scikit-learn's StandardScaler
    does. The state is two arrays (``state_dict()``), so it can be saved next
    to a model's weights without pickle.
    """

    def __init__(self, eps=1e-12):
        self.eps = eps
        self.mean_ = None
        self.scale_ = None

    # ---------------------------------------------------------------- fitting
    def fit(self, x):
        x = _as_2d(x, "fit")
        if x.shape[0] == 0:
            raise ValueError("Standardizer.fit: got no rows")
        if not np.isfinite(x).all():
            rows, cols = np.nonzero(~np.isfinite(x))
            raise ValueError(f"Standardizer.fit: non-finite value at row {rows[0]}, column {cols[0]}")
        x = x.astype(np.float64, copy=False)  # sums of many float32 values lose digits
        self.mean_ = x.mean(axis=0)
        std = x.std(axis=0)
        # A constant column's std is rounding noise (1e-11 for a column of 12345.6789s), not 0: dividing
        # by it would blow held-out values up by 1e10. Such columns are found by their range instead.
        constant = (np.ptp(x, axis=0) == 0) | (std <= self.eps)
        self.scale_ = np.where(constant, 1.0, std)
        return self

    def transform(self, x):
        """Standardised copy of ``x``; a Tensor gives a Tensor, an array an array, in x's float dtype."""
        if self.mean_ is None:
            raise RuntimeError("Standardizer.transform before fit(): fit it on the training data first")
        data = _as_2d(x, "transform")
        if data.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"Standardizer.transform: data has {data.shape[1]} columns (shape {data.shape}) "
                             f"but the standardizer was fitted on {self.mean_.shape[0]}")
        dtype = data.dtype if np.issubdtype(data.dtype, np.floating) else np.float32
        out = ((data - self.mean_) / self.scale_).astype(dtype)
        return Tensor(out) if isinstance(x, Tensor) else out

    def fit_transform(self, x):
        return self.fit(x).transform(x)

    def inverse_transform(self, x):
        if self.mean_ is None:
            raise RuntimeError("Standardizer.inverse_transform before fit()")
        data = _as_2d(x, "inverse_transform")
        if data.shape[1] != self.mean_.shape[0]:
            raise ValueError(f"Standardizer.inverse_transform: data has {data.shape[1]} columns (shape "
                             f"{data.shape}) but the standardizer was fitted on {self.mean_.shape[0]}")
        out = (data * self.scale_ + self.mean_).astype(data.dtype if np.issubdtype(data.dtype, np.floating)
                                                        else np.float32)
        return Tensor(out) if isinstance(x, Tensor) else out

    # ------------------------------------------------------------------ state
    def state_dict(self):
        if self.mean_ is None:
            raise RuntimeError("Standardizer.state_dict before fit(): there is nothing to save")
        return {"mean": self.mean_.copy(), "scale": self.scale_.copy()}

    def load_state_dict(self, state):
        missing = [k for k in ("mean", "scale") if k not in state]
        if missing:
            raise KeyError(f"Standardizer.load_state_dict: missing {missing}")
        mean = np.asarray(state["mean"], dtype=np.float64)
        scale = np.asarray(state["scale"], dtype=np.float64)
        if mean.ndim != 1 or mean.shape != scale.shape:
            raise ValueError(f"Standardizer.load_state_dict: mean {mean.shape} and scale {scale.shape} "
                             f"must be vectors of one length")
        if not (np.isfinite(scale) & (scale > 0)).all() or not np.isfinite(mean).all():
            raise ValueError("Standardizer.load_state_dict: every scale must be positive and finite, every mean "
                             "finite")
        self.mean_, self.scale_ = mean.copy(), scale.copy()
        return self

    def __repr__(self):
        fitted = f"{self.mean_.shape[0]} features" if self.mean_ is not None else "not fitted"
        return f"Standardizer({fitted})"


def _as_2d(x, where):
    data = np.asarray(x.data if isinstance(x, Tensor) else x)
    if data.ndim != 2:
        raise ValueError(f"Standardizer.{where}: expected a 2-D (rows, features) array, got shape {data.shape}")
    if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        raise TypeError(f"Standardizer.{where}: expected numbers, got dtype {data.dtype}")
    return data
