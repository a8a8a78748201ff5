"""Switches of the autodiff engine: gradient recording and anomaly detection.

Each thread has its own, as in PyTorch: ``no_grad()`` in one thread does not
stop another from recording, and every new thread starts with recording on.
"""
import contextlib
import threading


class _State(threading.local):
    # Class attributes: what a thread sees until it sets its own.
    grad_enabled = True
    detect_anomaly = False


state = _State()


def is_grad_enabled():
    return state.grad_enabled


@contextlib.contextmanager
def _set_grad(enabled):
    previous = state.grad_enabled
    state.grad_enabled = enabled
    try:
        yield
    finally:
        state.grad_enabled = previous


def no_grad():
    """Context manager: run code without recording a graph (inference, optimiser updates)."""
    return _set_grad(False)


def enable_grad():
    return _set_grad(True)


@contextlib.contextmanager
def detect_anomaly():
    """Raise at the first op whose forward or backward makes a NaN or inf.

    The error names the op and the shapes of its inputs. Checking every array
    costs a pass over it, so this is off unless asked for.
    """
    previous = state.detect_anomaly
    state.detect_anomaly = True
    try:
        yield
    finally:
        state.detect_anomaly = previous
