"""chainrule against PyTorch and the other NumPy autodiff libraries, on the CPU. (A benchmark, not a test.)

    python benchmarks/bench_speed.py [--json results.json] [--repeats 40] [--threads N] [--quick]

What it runs, all in this one process except the memory runs:

- training steps of the two models chainrule ships (sizes in ``_speed_models``):
  the NPLM with SGD and with Adam, the TextCNN with Adadelta and with Adam,
  in chainrule and PyTorch (fused Adam where PyTorch has it on the CPU);
  the NPLM/SGD and TextCNN/Adadelta steps also in HIPS autograd, mygrad and
  tinygrad, whichever are installed and run;
- per-op overhead: a chain of 100 small ops, and a scalar MLP against micrograd;
- the peak resident memory of a 1,000-step NPLM run, chainrule against
  PyTorch, each in a fresh subprocess;
- the NPLM step's GFLOP/s as a share of NumPy's float32 matrix-product rate
  (a 2048 x 2048 product, timed in turn with the step).

Before timing, fresh copies of every library take the first steps from the
same weights on the same batches (dropout off), and their losses must agree
with chainrule's: that proves each library does the same work. Then, after a
warm-up, the libraries take one step each in turn, so that load from
elsewhere on the machine slows them alike, and the medians are compared.
The ratios are chainrule's time over the other's: below 1, chainrule is faster.
"""
import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

# OpenBLAS reads this only when it loads, with NumPy on the next line: chainrule's own setting
# (made when chainrule is imported) would come too late for this process, and spinning BLAS
# threads left by one library's products would be timed in the next library's step.
os.environ.setdefault("OPENBLAS_THREAD_TIMEOUT", "1")

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import _speed_micro as micro
import _speed_models as models

#: (name, model, optimiser, libraries besides chainrule, target ratio vs torch)
STEP_WORKLOADS = [
    ("nplm_sgd", "nplm", "sgd", ("torch", "autograd", "mygrad", "tinygrad"), 0.95),
    ("nplm_adam", "nplm", "adam", ("torch",), 1.0),
    ("textcnn_adadelta", "textcnn", "adadelta", ("torch", "autograd", "mygrad", "tinygrad"), 0.85),
    ("textcnn_adam", "textcnn", "adam", ("torch",), 1.0),
]
#: Steps timed in turn with a workload's libraries that are not a library: bounds (``_speed_models``).
REFERENCES = {"nplm_sgd": ("numpy-by-hand", "blas-products")}
PEER_TARGET = 0.5          # chainrule / each NumPy peer, for the model steps
CHAIN_TARGET = 1.5         # chainrule / PyTorch, chain of 100 ops
SCALAR_TARGET = 1.0        # chainrule.Scalar / micrograd
MEMORY_TARGET = 1.0        # chainrule / PyTorch, peak RSS
PEAK_SHARE_TARGET = 0.60   # NPLM step GFLOP/s / matmul peak
# The first PARITY_STEPS losses of every library must agree with chainrule's within LOSS_RTOL.
# Correct runs differ by ~2e-7 (float32, other summation orders); ten steps make a changed
# hyper-parameter show (lr x 1.05, Adam's beta2 0.99, a weight decay of 1e-4: 6e-5 to 4e-4).
LOSS_RTOL = 1e-5
PARITY_STEPS = 10


# ------------------------------------------------------------------- setup
def set_threads(threads, with_torch=True):
    """The same number of threads for NumPy's BLAS, PyTorch and chainrule's optimisers."""
    try:
        from threadpoolctl import threadpool_limits
        threadpool_limits(limits=threads, user_api="blas")
    except ImportError:
        print("note: threadpoolctl is not installed; set OPENBLAS_NUM_THREADS to match --threads", file=sys.stderr)
    if with_torch:  # not in chainrule's memory run, where loading PyTorch would count against chainrule
        try:
            import torch
            torch.set_num_threads(threads)
        except ImportError:
            pass
    try:
        from chainrule import threads as cr_threads
        cr_threads.set_num_threads(threads)
    except (ImportError, AttributeError):
        pass


def describe_machine(with_torch=True):
    """The CPU and the BLAS each library multiplies with: the ratios against PyTorch depend on both.

    PyTorch's CPU build multiplies with MKL, NumPy's wheels with OpenBLAS, and
    which of the two is faster differs between Intel and AMD processors.
    """
    cpu = {"model": platform.processor() or platform.machine()}
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            fields = dict(line.split(":", 1) for line in f.read().split("\n\n")[0].splitlines() if ":" in line)
        fields = {k.strip(): v.strip() for k, v in fields.items()}
        cpu = {"model": fields.get("model name", cpu["model"]), "vendor": fields.get("vendor_id"),
               "family": fields.get("cpu family"), "model_number": fields.get("model")}
    except OSError:
        pass
    blas = {}
    try:
        from threadpoolctl import threadpool_info
        for pool in threadpool_info():
            if pool.get("user_api") == "blas" and "numpy" not in blas:
                blas["numpy"] = " ".join(str(pool.get(k)) for k in ("internal_api", "version", "architecture")
                                         if pool.get(k))
    except ImportError:
        pass
    if with_torch:
        try:
            import torch
            mkl = [line.strip() for line in torch.__config__.parallel_info().splitlines() if "Math Kernel" in line]
            blas["torch"] = mkl[0] if mkl else ("MKL" if torch.backends.mkl.is_available() else "no MKL")
        except ImportError:
            pass
    return {"cpu": cpu, "blas": blas}


def available(lib):
    """None if ``lib`` can be imported, else the reason it cannot."""
    module = {"chainrule": "chainrule", "torch": "torch", "autograd": "autograd", "mygrad": "mygrad",
              "tinygrad": "tinygrad", "micrograd": "micrograd"}[lib]
    try:
        __import__(module)
    except Exception as e:  # noqa: BLE001 - any failure to import means "not here", with its reason
        return f"not installed ({type(e).__name__}: {e})"
    return None


# --------------------------------------------------------------- measuring
def measure(steps, repeats, warmup, budget_s, errors=None, collect=False):
    """Median seconds per call of each step function, calling them in turn.

    A library whose step is slow (above ``budget_s / repeats`` after warm-up)
    takes fewer timed steps, at least 3, so one slow peer cannot stall the run.
    One slower than a third of the budget (tinygrad) is timed once.
    ``collect``: time each step together with a collection of Python's
    young generations right after it. For steps of a millisecond or less
    this matters: the collector runs when enough objects have been
    allocated and not freed, so the garbage a library leaves in reference
    cycles (micrograd's closures make ~2,200 such objects a step) would be
    collected, and timed, inside whichever library's step came next; and
    collecting it outside the timing would not charge its maker at all.
    This way each library pays for freeing its own garbage, every step.
    Returns ({name: median seconds}, {name: number of timed steps}).
    """
    first = {}
    for name, step in list(steps.items()):
        start = time.perf_counter()
        done = 0
        try:
            # A library slower than a third of the budget per step warms up once and is timed once.
            while done < warmup and (done == 0 or time.perf_counter() - start < budget_s / 3):
                step()
                done += 1
        except Exception as e:  # a peer that fails is reported and left out
            if errors is None or name == "chainrule":
                raise
            errors[name] = f"{type(e).__name__}: {e}"
            del steps[name]
            continue
        first[name] = (time.perf_counter() - start) / done
    wanted = {name: 1 if first[name] > budget_s / 3 else max(3, min(repeats, int(budget_s / max(first[name], 1e-9))))
              for name in steps}
    times = {name: [] for name in steps}
    clock = time.perf_counter
    for i in range(max(wanted.values())):
        for name, step in steps.items():
            if i < wanted[name]:
                start = clock()
                step()
                if collect:
                    gc.collect(1)
                times[name].append(clock() - start)
    return {name: statistics.median(t) for name, t in times.items()}, {name: len(t) for name, t in times.items()}


def check_losses(model, opt_name, libs, errors):
    """Losses of the first steps of each library from identical weights and batches (dropout off).

    A library that fails here is named in ``errors`` and gets a NaN difference, which counts as a
    mismatch: its timing is then reported as unchecked rather than trusted.
    """
    losses = {}
    for lib in libs:
        try:
            step = models.MAKERS[lib](model, opt_name, dropout=False)
            losses[lib] = [models.loss_value(step()) for _ in range(PARITY_STEPS)]
        except Exception as e:  # noqa: BLE001 - reported with the table
            errors[f"parity {lib}"] = f"{type(e).__name__}: {e}"
            losses[lib] = [float("nan")] * PARITY_STEPS
    ours = np.array(losses["chainrule"])
    diffs = {lib: float(np.max(np.abs(np.array(v) - ours) / np.abs(ours))) for lib, v in losses.items()
             if lib != "chainrule"}
    return losses, diffs


def mismatched(diff):
    return not diff <= LOSS_RTOL  # NaN (a failed or diverged check) is a mismatch too


def matmul_step(size=2048):
    """A step() doing one float32 product of two size x size matrices, and its FLOP count."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    out = np.empty_like(a)
    return (lambda: np.matmul(a, b, out=out)), 2 * size ** 3


def _time(fn):
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ----------------------------------------------------------------- memory
def memory_child(lib, steps):
    """Run ``steps`` NPLM/SGD steps and print this process's peak RSS in MiB (the parent reads it).

    Also the resident memory once the library is imported and the model built, before any step:
    most of PyTorch's total is its own code, so the difference is what the training itself costs.
    """
    step = models.MAKERS[lib]("nplm", "sgd")
    before = _current_rss_kib() / 1024
    for _ in range(steps):
        step()
    print(json.dumps({"lib": lib, "peak_rss_mib": _peak_rss_kib() / 1024, "rss_before_steps_mib": before}))


def _proc_status_kib(field):
    """A memory field of /proc/self/status (Linux) in KiB, or None elsewhere."""
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _current_rss_kib():
    rss = _proc_status_kib("VmRSS")
    return float("nan") if rss is None else rss


def _peak_rss_kib():
    """This process's peak resident memory in KiB.

    Linux's VmHWM is reset when a process execs; ru_maxrss is not (a child
    started from a large parent would report the parent's peak), so VmHWM
    comes first and ru_maxrss (KiB on Linux, bytes on macOS) is the fallback.
    """
    peak = _proc_status_kib("VmHWM")
    if peak is not None:
        return peak
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 1024 if sys.platform == "darwin" else peak


def peak_memory(lib, steps, threads):
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-child", lib, "--memory-steps", str(steps),
           "--threads", str(threads)]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"memory run of {lib} failed:\n{out.stderr[-2000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------ report
def add_reference_rows(table, name, medians, diffs):
    """What the hand-written step and the products alone say about a workload's ratios.

    chainrule / by hand is the engine's own cost. By hand / PyTorch is the
    speed issue's reference ratio, what NumPy reaches without any autodiff.
    Products / PyTorch and products / each NumPy peer are floors: chainrule
    runs the same NumPy products, so its step cannot take less than they do.
    """
    ms = {lib: m * 1e3 for lib, m in medians.items()}
    if "numpy-by-hand" in ms:
        diff = diffs.get("numpy-by-hand", float("nan"))
        note = f"loss diff {diff:.1e}" + (" MISMATCH" if mismatched(diff) else "") + "; the engine's cost"
        table.add(f"{name} vs numpy by hand", ms["chainrule"], ms["numpy-by-hand"], "ms",
                  ms["chainrule"] / ms["numpy-by-hand"], None, note)
        if "torch" in ms:
            table.add("  ref: numpy by hand vs torch", ms["numpy-by-hand"], ms["torch"], "ms",
                      ms["numpy-by-hand"] / ms["torch"], None, "no autodiff")
    if "blas-products" in ms:
        for lib in ("torch", "autograd", "mygrad"):
            if lib in ms:
                table.add(f"  ref: products alone vs {lib}", ms["blas-products"], ms[lib], "ms",
                          ms["blas-products"] / ms[lib], None, "lowest ratio NumPy's BLAS allows")


class Table:
    def __init__(self):
        self.rows = []

    def add(self, what, ours, theirs, unit, ratio, target, note=""):
        self.rows.append((what, ours, theirs, unit, ratio, target, note))
        met = "" if ratio is None or target is None else ("ok" if ratio <= target else "MISSED")
        fmt = (lambda v: f"{v:9.3f}") if unit == "ms" else (lambda v: f"{v:9.1f}")
        ours_s = fmt(ours) if ours is not None else f"{'-':>9}"
        theirs_s = fmt(theirs) if theirs is not None else f"{'-':>9}"
        ratio_s = f"{ratio:6.2f}" if ratio is not None else f"{'-':>6}"
        target_s = f"<={target:.2f}" if target is not None else ""
        print(f"{what:<34} {ours_s} {theirs_s} {unit:<6} {ratio_s} {target_s:>7} {met:<6} {note}", flush=True)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--json", metavar="FILE", help="also write the results as JSON, to compare with a later run")
    parser.add_argument("--repeats", type=int, default=40, help="timed steps per library (default 40)")
    parser.add_argument("--warmup", type=int, default=3, help="untimed steps first (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="threads for every library (default: all cores)")
    parser.add_argument("--peer-budget", type=float, default=20.0,
                        help="seconds of timed steps a slow library gets per workload (default 20)")
    parser.add_argument("--memory-steps", type=int, default=1000, help="NPLM steps of each memory run (default 1000)")
    parser.add_argument("--skip", action="append", default=[],
                        help="leave out a library (torch, autograd, mygrad, tinygrad, micrograd) or a part "
                             "(steps, chain, scalar, memory, peak); repeatable")
    parser.add_argument("--quick", action="store_true", help="few repeats and 100 memory steps: a smoke run")
    parser.add_argument("--with-tinygrad", action="store_true",
                        help="also time tinygrad (slow here: its CPU backend compiles kernels with clang, and one "
                             "NPLM step took ~17 s, a TextCNN step minutes)")
    parser.add_argument("--memory-child", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    threads = args.threads or os.cpu_count() or 1
    set_threads(threads, with_torch=args.memory_child in (None, "torch"))
    if args.memory_child:
        memory_child(args.memory_child, args.memory_steps)
        return 0
    if args.quick:
        args.repeats, args.warmup, args.memory_steps, args.peer_budget = 8, 2, 100, 5.0

    if not args.with_tinygrad:
        args.skip.append("tinygrad")
    missing = {lib: why for lib in ("torch", "autograd", "mygrad", "tinygrad", "micrograd")
               if (why := (_skip_reason(lib, args) if lib in args.skip else available(lib)))}
    results = {"steps": {}, "chain100": {}, "scalar_mlp": {}, "memory": {}, "peak": {}, "parity": {},
               "unavailable": missing, "loadavg_before": os.getloadavg()}
    import chainrule
    try:
        from chainrule.threads import info as threads_info
    except ImportError:  # a chainrule from before its thread settings, for before/after runs
        threads_info = dict
    env = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "OPENBLAS_THREAD_TIMEOUT",
                                          "MKL_NUM_THREADS", "CHAINRULE_NO_THREAD_SETUP")}
    torch_version = None if "torch" in missing else __import__("torch").__version__
    print(f"threads {threads}, python {platform.python_version()}, numpy {np.__version__}, "
          f"torch {torch_version}, {args.repeats} timed steps after {args.warmup} warm-up, "
          f"load average {os.getloadavg()[0]:.1f}")
    machine = describe_machine(with_torch="torch" not in missing)
    cpu = machine["cpu"]
    print(f"  CPU: {cpu['model']}" + (f" ({cpu['vendor']}, family {cpu['family']} model {cpu['model_number']})"
                                      if cpu.get("vendor") else ""))
    for lib, blas in machine["blas"].items():
        print(f"  {lib}'s BLAS: {blas}")
    for lib, why in missing.items():
        print(f"  {lib}: {why}")
    if "torch" not in missing:
        print(f"  PyTorch's Adam: {models.torch_adam_kind()}; its SGD and Adadelta: defaults")
    print(f"\n{'workload':<34} {'chainrule':>9} {'other':>9} {'unit':<6} {'ratio':>6} {'target':>7}")

    table = Table()
    other_libs = lambda libs: [lib for lib in libs if lib not in missing]

    if "steps" not in args.skip:
        for name, model, opt_name, peers, target in STEP_WORKLOADS:
            libs = ["chainrule"] + other_libs(peers)
            references = list(REFERENCES.get(name, ()))
            errors = {}
            # The products-only reference computes no loss; the hand-written step must match like a library.
            losses, diffs = check_losses(model, opt_name, libs + [r for r in references if r != "blas-products"],
                                         errors)
            steps = {}
            for lib in libs + references:
                try:
                    steps[lib] = models.MAKERS[lib](model, opt_name)
                except Exception as e:  # noqa: BLE001
                    errors[lib] = f"{type(e).__name__}: {e}"
            medians, counts = measure(steps, args.repeats, args.warmup, args.peer_budget, errors)
            ours = medians["chainrule"] * 1e3
            results["parity"][name] = {"losses": losses, "max_rel_diff": diffs, "errors": errors}
            results["steps"][name] = {"ms": {lib: m * 1e3 for lib, m in medians.items()}, "timed_steps": counts}
            for lib in libs[1:]:
                if lib not in medians:
                    continue
                theirs = medians[lib] * 1e3
                bad = mismatched(diffs[lib])
                note = f"loss diff {diffs[lib]:.1e}" + (" MISMATCH" if bad else "") if lib in diffs else ""
                table.add(f"{name} vs {lib}", ours, theirs, "ms", ours / theirs,
                          target if lib == "torch" else PEER_TARGET, note)
                results["steps"][name].setdefault("ratio", {})[lib] = ours / theirs
            add_reference_rows(table, name, medians, diffs)
            for key, err in errors.items():
                print(f"  {name}: {key} failed: {err}")

    # The per-op workloads use arrays far too small for any library to split
    # over threads; with idle worker threads spinning between ops (PyTorch's
    # OpenMP pool does), a busy machine would time the spinning, not the ops.
    set_threads(1)
    if "chain" not in args.skip:
        libs = ["chainrule"] + other_libs(micro.CHAIN_LIBS[1:])
        steps = {lib: micro.make_chain(lib) for lib in libs}
        medians, counts = measure(steps, args.repeats * 10, args.warmup * 5, args.peer_budget, collect=True)
        results["chain100"] = {"ms": {lib: m * 1e3 for lib, m in medians.items()}, "timed_steps": counts}
        for lib in libs[1:]:
            target = CHAIN_TARGET if lib == "torch" else None
            table.add(f"chain100 vs {lib}", medians["chainrule"] * 1e3, medians[lib] * 1e3, "ms",
                      medians["chainrule"] / medians[lib], target, "1 thread")

    if "scalar" not in args.skip:
        # chainrule.Scalar (Python floats) is what chainrule offers for this kind of code; the
        # same MLP on 0-d Tensors is timed too, against micrograd, to show what the array engine costs.
        libs = ["chainrule"] + other_libs(micro.SCALAR_LIBS[1:])
        steps = {lib: micro.make_scalar_mlp(lib) for lib in libs}
        values = {lib: step() for lib, step in steps.items()}
        medians, counts = measure(steps, args.repeats * 10, args.warmup * 5, args.peer_budget, collect=True)
        results["scalar_mlp"] = {"ms": {lib: m * 1e3 for lib, m in medians.items()}, "timed_steps": counts,
                                 "loss": values}
        rows = [("chainrule", lib) for lib in libs[1:] if lib != "chainrule-tensor"]
        if "micrograd" in libs:
            rows.insert(1, ("chainrule-tensor", "micrograd"))
        for ours, lib in rows:
            label = "scalar_mlp " + ("0-d Tensor" if ours == "chainrule-tensor" else "Scalar") + f" vs {lib}"
            target = SCALAR_TARGET if (ours, lib) == ("chainrule", "micrograd") else None
            note = "1 thread" + ("" if np.isclose(values[lib], values[ours], rtol=1e-4) else " LOSS MISMATCH")
            table.add(label, medians[ours] * 1e3, medians[lib] * 1e3, "ms",
                      medians[ours] / medians[lib], target, note)

    set_threads(threads)

    if "peak" not in args.skip:
        # The NPLM step and a large square product, timed in turn so that both
        # see the same load: the product's median GFLOP/s is what NumPy's BLAS
        # reaches on this machine now (its best single run is recorded too).
        matmul, matmul_flops = matmul_step()
        steps = {"nplm_sgd": models.MAKERS["chainrule"]("nplm", "sgd"), "matmul": matmul}
        medians, _ = measure(steps, args.repeats, args.warmup, args.peer_budget)
        best = min(_time(matmul) for _ in range(5))
        achieved = models.nplm_flops() / medians["nplm_sgd"] / 1e9
        peak = matmul_flops / medians["matmul"] / 1e9
        results["peak"] = {"matmul_gflops_median": peak, "matmul_gflops_best": matmul_flops / best / 1e9,
                           "nplm_step_gflops": achieved, "nplm_step_ms": medians["nplm_sgd"] * 1e3,
                           "share": achieved / peak, "nplm_step_gflop": models.nplm_flops() / 1e9}
        table.add("nplm_sgd GFLOP/s / matmul GFLOP/s", achieved, peak, "GFLOP", achieved / peak, None)
        print(f"{'':<34} share of the matmul peak {achieved / peak:.0%} (target >= {PEAK_SHARE_TARGET:.0%}; "
              f"best single matmul {matmul_flops / best / 1e9:.0f} GFLOP/s)")

    if "memory" not in args.skip and "torch" not in missing:
        runs = {lib: peak_memory(lib, args.memory_steps, threads) for lib in ("chainrule", "torch")}
        mem = {lib: r["peak_rss_mib"] for lib, r in runs.items()}
        growth = {lib: r["peak_rss_mib"] - r["rss_before_steps_mib"] for lib, r in runs.items()}
        results["memory"] = {"peak_rss_mib": mem, "steps": args.memory_steps, "ratio": mem["chainrule"] / mem["torch"],
                             "rss_before_steps_mib": {lib: r["rss_before_steps_mib"] for lib, r in runs.items()},
                             "training_mib": growth, "training_ratio": growth["chainrule"] / growth["torch"]}
        table.add(f"peak RSS, {args.memory_steps} NPLM steps", mem["chainrule"], mem["torch"], "MiB",
                  mem["chainrule"] / mem["torch"], MEMORY_TARGET)
        table.add("  of it, above the RSS after imports", growth["chainrule"], growth["torch"], "MiB",
                  growth["chainrule"] / growth["torch"], None)

    results["loadavg_after"] = os.getloadavg()
    mismatches = [f"{name} {lib}" for name, p in results["parity"].items()
                  for lib, d in p["max_rel_diff"].items() if mismatched(d)]
    if mismatches:
        print(f"\nLOSS MISMATCH (the libraries did not do the same work): {', '.join(mismatches)}")
    if args.json:
        report = {"threads": threads, "python": platform.python_version(), "numpy": np.__version__,
                  "torch": torch_version, "chainrule": chainrule.__version__, "machine": platform.machine(),
                  "cpu": machine["cpu"], "blas": machine["blas"], "cpu_count": os.cpu_count(), "env": env, "chainrule_threads": threads_info(),
                  "repeats": args.repeats, "warmup": args.warmup,
                  "torch_adam": None if "torch" in missing else models.torch_adam_kind(),
                  "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "results": results}
        _write_json(args.json, report)
        print(f"\nwrote {args.json}")
    return 1 if mismatches else 0


def _skip_reason(lib, args):
    if lib == "tinygrad" and not args.with_tinygrad:
        return "skipped: pass --with-tinygrad (its steps take seconds to minutes here)"
    return "skipped (--skip)"


def _write_json(path, report):
    from chainrule.train.atomic import atomic_write_text
    atomic_write_text(path, json.dumps(report, indent=2, default=_plain) + "\n")


def _plain(value):
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


if __name__ == "__main__":
    sys.exit(main())
