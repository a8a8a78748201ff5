"""How fast is chainrule's engine next to PyTorch on the CPU? (A benchmark, not a test.)

Two workloads, each run by both libraries with the same shapes, data, initial
weights and thread count:

- ``mlp_step``: one SGD training step of a 784-256-10 ReLU MLP on a batch of 64
  (forward, cross-entropy, backward, update): time spent in BLAS, plus the
  engine's per-op overhead on a handful of ops.
- ``chain100``: forward and backward through 100 small elementwise ops on a
  16x16 tensor: almost all overhead (graph recording, dispatch, the
  topological sort), almost no arithmetic.

After a warm-up the two libraries run alternately, one repetition each, so a
busy machine slows both alike; the medians are reported with their ratio
chainrule / PyTorch (above 1: chainrule is slower).

    python benchmarks/bench_engine.py [--repeats 200] [--threads N] [--json results.json]
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import numpy as np

import chainrule as cr
import chainrule.functional as F
from chainrule import nn, optim


# ------------------------------------------------------------------ workloads
def make_mlp_step(lib, batch=64, sizes=(784, 256, 10), seed=0):
    """A zero-argument function doing one training step, for ``lib`` 'chainrule' or 'torch'."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, sizes[0]), dtype=np.float32)
    y = rng.integers(0, sizes[-1], batch)
    w1 = (rng.standard_normal((sizes[1], sizes[0])) / np.sqrt(sizes[0])).astype(np.float32)
    w2 = (rng.standard_normal((sizes[2], sizes[1])) / np.sqrt(sizes[1])).astype(np.float32)
    if lib == "chainrule":
        model = nn.Sequential(nn.Linear(sizes[0], sizes[1]), nn.ReLU(), nn.Linear(sizes[1], sizes[2]))
        model[0].weight.data[...] = w1
        model[2].weight.data[...] = w2
        opt = optim.SGD(model.parameters(), lr=0.01)
        xt = cr.tensor(x)

        def step():
            loss = F.cross_entropy(model(xt), y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            return loss
        return step

    import torch
    model = torch.nn.Sequential(torch.nn.Linear(sizes[0], sizes[1]), torch.nn.ReLU(),
                                torch.nn.Linear(sizes[1], sizes[2]))
    with torch.no_grad():
        model[0].weight.copy_(torch.from_numpy(w1))
        model[2].weight.copy_(torch.from_numpy(w2))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)

    def step():
        loss = torch.nn.functional.cross_entropy(model(xt), yt)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss
    return step


def make_chain(lib, size=16, seed=0):
    """Forward and backward through 100 elementwise ops (multiply, add, tanh, sigmoid, in turn).

    The chain itself is the one ``bench_speed.py`` times, so both benchmarks measure the same work.
    """
    from _speed_micro import _chain  # benchmarks/ is on sys.path when this script runs

    data = np.random.default_rng(seed).standard_normal((size, size), dtype=np.float32)
    if lib == "chainrule":
        x = cr.tensor(data, requires_grad=True)
        tanh, sigmoid = cr.tanh, cr.sigmoid
    else:
        import torch
        x = torch.tensor(data, requires_grad=True)
        tanh, sigmoid = torch.tanh, torch.sigmoid

    def step():
        x.grad = None
        loss = _chain(x, tanh, sigmoid)
        loss.backward()
        return loss
    return step


WORKLOADS = {
    "mlp_step": ("SGD step, MLP 784-256-10, batch 64", make_mlp_step),
    "chain100": ("100 elementwise ops on 16x16, forward + backward", make_chain),
}


# ------------------------------------------------------------------ measuring
def set_threads(threads):
    """Give NumPy's BLAS and PyTorch the same number of threads; returns the number used."""
    try:
        from threadpoolctl import threadpool_info, threadpool_limits
    except ImportError:
        threadpool_info = threadpool_limits = None
    if threads is None:
        blas = [p["num_threads"] for p in (threadpool_info() if threadpool_info else []) if p["user_api"] == "blas"]
        threads = blas[0] if blas else int(os.environ.get("OPENBLAS_NUM_THREADS", os.cpu_count() or 1))
    if threadpool_limits is not None:
        threadpool_limits(limits=threads, user_api="blas")
    elif threads != (os.cpu_count() or 1):
        print("note: threadpoolctl is not installed, so NumPy's BLAS keeps its own thread count; "
              "set OPENBLAS_NUM_THREADS to match --threads", file=sys.stderr)
    try:
        import torch
        torch.set_num_threads(threads)
    except ImportError:
        pass
    return threads


def measure(steps, repeats, warmup):
    """Median seconds per call of each function, calling them in turn so that load hits all alike."""
    for _ in range(warmup):
        for step in steps.values():
            step()
    times = {name: [] for name in steps}
    clock = time.perf_counter
    for _ in range(repeats):
        for name, step in steps.items():
            start = clock()
            step()
            times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed repetitions per workload (default 200)")
    parser.add_argument("--warmup", type=int, default=20, help="untimed repetitions first (default 20)")
    parser.add_argument("--threads", type=int, default=None,
                        help="threads for both libraries (default: what NumPy's BLAS uses now)")
    parser.add_argument("--only", choices=sorted(WORKLOADS), action="append", help="run only this workload")
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON")
    args = parser.parse_args(argv)

    try:
        import torch
    except ImportError:
        torch = None
        print("PyTorch is not installed: timing chainrule alone (pip install 'chainrule[bench]')", file=sys.stderr)
    threads = set_threads(args.threads)
    libs = ["chainrule"] + (["torch"] if torch is not None else [])

    results = {}
    print(f"threads {threads}, numpy {np.__version__}" + (f", torch {torch.__version__}" if torch else "")
          + f", {args.repeats} repeats after {args.warmup} warm-up\n")
    print(f"{'workload':<10} {'chainrule':>11} {'pytorch':>11} {'ratio':>7}   what")
    for name in args.only or WORKLOADS:
        what, make = WORKLOADS[name]
        medians = measure({lib: make(lib) for lib in libs}, args.repeats, args.warmup)
        ours, theirs = medians["chainrule"], medians.get("torch")
        ratio = ours / theirs if theirs else None
        results[name] = {"description": what, "chainrule_ms": ours * 1e3,
                         "torch_ms": theirs * 1e3 if theirs else None, "ratio": ratio}
        shown_theirs = f"{theirs * 1e3:8.3f} ms" if theirs else f"{'-':>11}"
        shown_ratio = f"{ratio:6.2f}x" if ratio else f"{'-':>7}"
        print(f"{name:<10} {ours * 1e3:8.3f} ms {shown_theirs} {shown_ratio}   {what}")

    if args.json:
        report = {"threads": threads, "repeats": args.repeats, "warmup": args.warmup, "numpy": np.__version__,
                  "torch": torch.__version__ if torch else None, "python": platform.python_version(),
                  "machine": platform.machine(), "results": results}
        from chainrule.train.atomic import atomic_write_text
        atomic_write_text(args.json, json.dumps(report, indent=2) + "\n")
        print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
