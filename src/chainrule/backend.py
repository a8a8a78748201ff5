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
    elif arr.dtype == object:
        # NumPy keeps what is not a number as a Python object: a chainrule.Scalar (whose graph
        # would be cut without a word), an int beyond int64, ragged lists. A tensor of those is useless.
        raise TypeError(f"expected numbers, got {type(data).__name__} {shorten(repr(data), 40)}, which NumPy can only hold "
                        f"as a Python object (not a number, an int too large for int64, or ragged lists)")
    return arr


def shorten(text, width=60):
    """``text`` stripped and cut to ``width`` characters, with "..." where it was cut (for error messages)."""
    text = text.strip()
    return text if len(text) <= width else text[:width - 3] + "..."
