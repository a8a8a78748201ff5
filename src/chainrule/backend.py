"""The array library behind every Tensor, chosen in one place.

Today this is NumPy. A later issue adds CuPy; everything else in the engine
reaches arrays only through ``xp`` so that switch happens here and nowhere else.
"""
import numpy as np

xp = np

#: dtype given to floating-point data when the caller does not name one.
DEFAULT_FLOAT = np.float32


def as_array(data, dtype=None):
    """Turn lists, scalars and arrays into an ndarray with chainrule's dtype rules.

    Python floats and lists of floats become float32 (PyTorch's default dtype);
    an ndarray keeps its own dtype unless ``dtype`` is given, as ``torch.tensor``
    does for NumPy input.
    """
    if dtype is not None:
        return np.asarray(data, dtype=dtype)
    if isinstance(data, np.ndarray):
        return data
    arr = np.asarray(data)
    if arr.dtype == np.float64 and not isinstance(data, np.generic):  # a NumPy float64 scalar keeps its dtype
        arr = arr.astype(DEFAULT_FLOAT)
    return arr
