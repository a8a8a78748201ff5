"""Progress bars and throughput for long work.

``progress`` wraps tqdm when it is installed (it is an optional extra) and
otherwise prints a status line every few seconds, so a training run in a log
file or a bare environment still shows that it is alive and how fast it goes.
"""
import sys
import time


def format_count(n):
    """1234567 -> '1.2M', as progress bars show counts and rates."""
    # From 0.99995 of a limit on, the smaller unit would print "1000.0": 999,960 is "1.0M", not "1000.0k".
    for limit, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(n) >= 0.99995 * limit:
            return f"{n / limit:.1f}{suffix}"
    return f"{n:.0f}" if float(n).is_integer() else f"{n:.1f}"


def _format_postfix(values):
    parts = []
    for key, value in values.items():
        if isinstance(value, float):
            value = f"{value:.4g}"
        parts.append(f"{key}={value}")
    return ", ".join(parts)


class Throughput:
    """Items per second (tokens, sentences) since ``start``, plus over the last ``window`` seconds.

        speed = Throughput()
        for batch in batches:
            ...
            speed.update(batch_tokens)
        print(speed.format("tok"))   # e.g. "51.2k tok/s"

    The windowed ``recent_rate`` follows changes (a slower validation pass, a
    busy machine) that the overall ``rate`` averages away.
    """

    def __init__(self, window=10.0, clock=time.perf_counter):
        self.window = window
        self._clock = clock
        self.reset()

    def reset(self):
        self.start = self._clock()
        self.count = 0
        self._marks = [(self.start, 0)]  # (time, cumulative count) pairs within the window

    def update(self, n=1):
        self.count += n
        now = self._clock()
        self._marks.append((now, self.count))
        # Keep one mark older than the window so the window is always spanned.
        while len(self._marks) > 2 and now - self._marks[1][0] >= self.window:
            self._marks.pop(0)

    @property
    def elapsed(self):
        return self._clock() - self.start

    @property
    def rate(self):
        elapsed = self.elapsed
        return self.count / elapsed if elapsed > 0 else 0.0

    @property
    def recent_rate(self):
        (t0, c0), (t1, c1) = self._marks[0], self._marks[-1]
        return (c1 - c0) / (t1 - t0) if t1 > t0 else self.rate

    def format(self, unit="it", recent=False):
        return f"{format_count(self.recent_rate if recent else self.rate)} {unit}/s"


class _PlainProgress:
    """What ``progress`` returns without tqdm: a line on stderr every ``interval`` seconds and at the end."""

    def __init__(self, iterable, total, desc, unit, disable, initial=0, interval=10.0, file=None):
        self.iterable = iterable
        self.total = total
        self.desc = desc
        self.unit = unit
        self.disable = disable
        self.interval = interval
        self.file = file if file is not None else sys.stderr
        self.n = initial
        self._initial = initial
        self.postfix = {}
        self._start = time.perf_counter()
        self._last_print = self._start
        self._closed = False

    def __iter__(self):
        for item in self.iterable:
            yield item
            self.update(1)
        self.close()

    def __len__(self):
        return self.total if self.total is not None else len(self.iterable)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def update(self, n=1):
        self.n += n
        now = time.perf_counter()
        if now - self._last_print >= self.interval:
            self._last_print = now
            self._print()

    def set_postfix(self, ordered_dict=None, refresh=True, **kwargs):
        self.postfix = dict(ordered_dict or {}, **kwargs)

    def set_description(self, desc=None, refresh=True):
        self.desc = desc or ""

    def write(self, text):
        if not self.disable:
            print(text, file=self.file, flush=True)

    def close(self):
        if self._closed:
            return
        self._closed = True
        self._print()

    def _print(self):
        if self.disable:
            return
        elapsed = time.perf_counter() - self._start
        done = f"{format_count(self.n)}/{format_count(self.total)}" if self.total else format_count(self.n)
        rate = f"{format_count((self.n - self._initial) / elapsed)} {self.unit}/s" if elapsed > 0 else f"? {self.unit}/s"
        line = f"{self.desc}: {done} {self.unit} [{elapsed:.0f}s, {rate}"
        if self.postfix:
            line += ", " + _format_postfix(self.postfix)
        print(line + "]", file=self.file, flush=True)


def progress(iterable=None, total=None, desc="", unit="it", disable=None, initial=0, unit_scale=True, leave=True,
             file=None, **kwargs):
    """A progress bar over ``iterable`` (or a manual one driven by ``update(n)`` when it is None).

    Returns a tqdm bar when tqdm is installed, else a plain stand-in printing a
    line every 10 seconds; both offer iteration, ``update(n)``,
    ``set_postfix(**values)``, ``write(text)``, ``close()`` and ``with``.
    ``initial`` starts the count there (a resumed epoch).
    ``disable=None`` means "only when stderr is a terminal", as in tqdm; pass
    ``disable=False`` to force it on (the plain stand-in then suits log files).
    Count tokens with ``unit='tok'`` and ``update(n_tokens)`` to see tokens/s.
    """
    if total is None and iterable is not None and hasattr(iterable, "__len__"):
        total = len(iterable)
    try:
        from tqdm.auto import tqdm
    except ImportError:
        tqdm = None
    if tqdm is not None:
        return tqdm(iterable, total=total, desc=desc, unit=unit, disable=disable, initial=initial,
                    unit_scale=unit_scale, leave=leave, file=file, dynamic_ncols=True, **kwargs)
    stream = file if file is not None else sys.stderr
    if disable is None:
        disable = not (hasattr(stream, "isatty") and stream.isatty())
    return _PlainProgress(iterable, total, desc, unit, disable, initial=initial, file=stream)
