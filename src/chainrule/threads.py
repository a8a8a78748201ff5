"""Thread settings: chosen once when chainrule is imported, and how to change or skip them.

chainrule's heavy work runs in two places that use threads:

- NumPy's BLAS (OpenBLAS in NumPy's wheels) for every matrix product. Its
  worker threads busy-wait between products by default, which on a machine
  with few cores steals the core that the next elementwise NumPy call (or
  another process) needs. ``OPENBLAS_THREAD_TIMEOUT`` makes them sleep soon
  after a product ends.
- chainrule's own block-parallel loops (the optimisers' updates over large
  parameters, the softmax cross-entropy's passes and a linear layer's bias
  passes over a large output; see :func:`parallel_blocks`), which run NumPy
  calls on a small thread pool; NumPy releases the GIL inside them.

What happens when this module is first imported (by the package's
``__init__`` before NumPy loads, or at the latest by ``chainrule.optim``),
unless ``CHAINRULE_NO_THREAD_SETUP=1`` is set:

- ``OPENBLAS_THREAD_TIMEOUT`` is set to ``1`` (the shortest wait) if the user
  has not set it. OpenBLAS reads it only when it loads, that is when NumPy is
  first imported: if NumPy was imported before this module, the setting is
  too late for this process (``info()["openblas_timeout_applied"]`` says so)
  and only reaches the subprocesses it starts. Setting it in the shell (as
  ``make`` does) always works.
- The number of threads for chainrule's own loops is ``CHAINRULE_NUM_THREADS``,
  else ``OMP_NUM_THREADS``, else ``OPENBLAS_NUM_THREADS``, else the number of
  cores this process may run on. ``set_num_threads`` changes it later.

Nothing else global is changed: BLAS's own thread count is left as NumPy
set it from the environment (``threadpoolctl`` can change it at run time).
With ``CHAINRULE_NO_THREAD_SETUP=1`` the environment is not touched and
chainrule's own loops run on one thread.
"""
import concurrent.futures
import os
import sys
import threading
import warnings

_DISABLED = os.environ.get("CHAINRULE_NO_THREAD_SETUP", "").strip() not in ("", "0")
_applied = {"openblas_timeout_set": False, "openblas_timeout_applied": None}


def _cores():
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _default_threads():
    if _DISABLED:
        return 1
    for name in ("CHAINRULE_NUM_THREADS", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        value = os.environ.get(name, "").strip()
        if value:
            # OpenMP allows a list per nesting level ("4,2"): the first is the outer level's.
            # A value that is not a number is skipped with a warning; failing at import
            # would stop even "chainrule --help".
            try:
                return max(1, int(value.split(",")[0]))
            except ValueError:
                warnings.warn(f"ignoring {name}={value!r}: not a number of threads", RuntimeWarning, stacklevel=2)
    return _cores()


def _setup_environment():
    if _DISABLED:
        return
    if "OPENBLAS_THREAD_TIMEOUT" in os.environ:
        # Set by the user, as a rule before the process started, so OpenBLAS saw it.
        _applied["openblas_timeout_applied"] = True
        return
    os.environ["OPENBLAS_THREAD_TIMEOUT"] = "1"
    _applied["openblas_timeout_set"] = True
    # OpenBLAS reads the variable when it loads: too late if NumPy came first.
    _applied["openblas_timeout_applied"] = "numpy" not in sys.modules


_setup_environment()
_num_threads = _default_threads()
_pool = None
_pool_lock = threading.Lock()


def get_num_threads():
    """How many threads chainrule's own block-parallel loops use."""
    return _num_threads


def set_num_threads(n):
    """Use ``n`` threads for chainrule's own loops (not BLAS: use threadpoolctl or OPENBLAS_NUM_THREADS)."""
    global _num_threads, _pool
    n = int(n)
    if n < 1:
        raise ValueError(f"set_num_threads: need at least 1 thread, got {n}")
    with _pool_lock:
        if _pool is not None and n != _num_threads:
            _pool.shutdown(wait=True)
            _pool = None
        _num_threads = n


def info():
    """The settings in force, for bug reports and benchmark records."""
    return {"num_threads": _num_threads, "setup_disabled": _DISABLED,
            "OPENBLAS_THREAD_TIMEOUT": os.environ.get("OPENBLAS_THREAD_TIMEOUT"), **_applied}


def _forget_pool_after_fork():
    # A forked child inherits the pool object but none of its threads: work
    # submitted to it would wait forever. The child starts its own on first use.
    global _pool, _pool_lock
    _pool = None
    _pool_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _get_pool():
    global _pool
    with _pool_lock:
        if _pool is None:
            from concurrent.futures import ThreadPoolExecutor
            # One thread fewer than wanted: the caller's thread takes a share too.
            _pool = ThreadPoolExecutor(max_workers=_num_threads - 1, thread_name_prefix="chainrule")
        return _pool


#: Elements per block: a kernel's few arrays of this many float32 (512 KiB
#: each) stay in the cache between its passes over one block, instead of
#: streaming through memory on every pass. Not smaller: every NumPy call of a
#: pool thread takes the GIL, and with small blocks the threads spend their
#: time handing it back and forth (Adam over 3.3M values on 2 threads:
#: 10.6 ms with 1 << 15, 7.7 ms with 1 << 17).
BLOCK = 1 << 17

#: Below this many elements, one thread does it all: starting work on the pool
#: costs more than it saves.
PARALLEL_MIN = 1 << 18


def one_block_per_thread(size):
    """The block size that gives each thread one slice of ``range(size)``.

    For a kernel that makes one pass, smaller blocks only add calls (each
    taking the GIL); cache-sized blocks (``BLOCK``) pay when a kernel passes
    over its block several times.
    """
    return max(1, -(-size // _num_threads))


def parallel_blocks(kernel, size, block=None, work=None):
    """Call ``kernel(start, stop)`` over ``range(size)`` in blocks, spread over the threads.

    ``kernel`` must touch only elements start:stop of its arrays, so blocks
    are independent and the result does not depend on how they are split.
    Each thread takes one contiguous run of blocks, walking it block by
    block so each block stays in cache for every pass the kernel makes.
    ``work`` is the number of elements all blocks touch together (default
    ``size``; more when each index is a row): small jobs stay on one thread.
    """
    block = block or BLOCK
    threads = _num_threads if (size if work is None else work) >= PARALLEL_MIN else 1

    def run(lo, hi):
        for start in range(lo, hi, block):
            kernel(start, min(start + block, hi))

    if threads == 1:
        run(0, size)
        return
    # Split on block boundaries so no block is cut in two.
    n_blocks = -(-size // block)
    bounds = [min(size, (n_blocks * i // threads) * block) for i in range(threads + 1)]
    pool = _get_pool()
    futures = [pool.submit(run, bounds[i], bounds[i + 1]) for i in range(1, threads)]
    try:
        run(bounds[0], bounds[1])
    finally:
        # Every block finishes before this returns or raises (a Ctrl-C in this thread included):
        # the caller must never see its arrays still being written.
        concurrent.futures.wait(futures)
    for f in futures:
        f.result()
