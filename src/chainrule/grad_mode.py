"""Switches of the autodiff engine: gradient recording and anomaly detection.

Each thread has its own, as in PyTorch: ``no_grad()`` in one thread does not
stop another from recording, and every new thread starts with recording on.
"""
import contextlib
import functools
import inspect
import threading


class _State(threading.local):
    # Class attributes: what a thread sees until it sets its own.
    grad_enabled = True
    detect_anomaly = False


state = _State()


def is_grad_enabled():
    return state.grad_enabled


class _GradMode:
    """A switch of gradient recording, usable as ``with``, as ``@decorator()`` and as ``@decorator``.

    As PyTorch's: one object can be entered again (and nested), and a decorated
    generator function runs each of its steps under the mode, not just its creation.
    """

    enabled = True

    def __new__(cls, func=None):
        self = super().__new__(cls)
        self._previous = []
        return self(func) if callable(func) else self  # @no_grad without parentheses

    def __init__(self, func=None):
        pass  # __new__ did the work (with set_grad_enabled's mode arriving here as ``func``)

    def __enter__(self):
        self._previous.append(state.grad_enabled)
        state.grad_enabled = self.enabled

    def __exit__(self, *exc):
        state.grad_enabled = self._previous.pop()
        return False

    def _fresh(self):
        """A new switch to the same mode: each call of a decorated function enters its own."""
        fresh = _GradMode()
        fresh.enabled = self.enabled
        return fresh

    def __call__(self, func):
        if inspect.isgeneratorfunction(func):
            return self._wrap_generator(func)

        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            with self._fresh():
                return func(*args, **kwargs)
        return wrapper

    def _wrap_generator(self, func):
        # Each step of the generator runs under the mode; between steps the caller's mode holds.
        @functools.wraps(func)
        def generator(*args, **kwargs):
            gen = func(*args, **kwargs)
            try:
                with self._fresh():
                    value = next(gen)
                while True:
                    try:
                        sent = yield value
                    except GeneratorExit:
                        with self._fresh():
                            gen.close()
                        raise
                    except BaseException as e:  # noqa: BLE001 - thrown in by the caller: pass it on
                        with self._fresh():
                            value = gen.throw(e)
                    else:
                        with self._fresh():
                            value = gen.send(sent)
            except StopIteration as stop:  # the generator finished (at once, after a send or after a throw)
                return stop.value
        return generator


class no_grad(_GradMode):
    """Run code without recording a graph (inference, optimiser updates): ``with no_grad():`` or ``@no_grad``."""

    enabled = False


class enable_grad(_GradMode):
    """Record a graph again inside a ``no_grad`` block."""

    enabled = True


class set_grad_enabled(_GradMode):
    """Switch recording on or off: at once when called (``set_grad_enabled(False)``), or for a ``with`` block."""

    def __new__(cls, mode):
        self = super().__new__(cls)
        self.enabled = bool(mode)
        self._before = state.grad_enabled
        state.grad_enabled = self.enabled  # as PyTorch: the call itself switches, so it also works as a function
        return self

    def __enter__(self):
        self._previous.append(self._before)  # the state before the call, restored at the end of the block
        state.grad_enabled = self.enabled

    def __call__(self, func):
        state.grad_enabled = self._before  # used as a decorator: the call above must not switch for good
        return super().__call__(func)


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
