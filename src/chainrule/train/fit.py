"""fit: a generic training loop built from the pieces of chainrule.train.

It owns the bookkeeping every trainer needs (progress, validation each epoch,
early stopping, best and last checkpoints, resume, Ctrl-C/SIGTERM, history and
curves) and leaves the model-specific part, one optimisation step and one
evaluation, to two functions the caller writes.
"""
import math
import sys
import time
from dataclasses import dataclass, field

from ..grad_mode import no_grad
from .checkpoint import CheckpointError, RunDir, load_checkpoint, restore, save_checkpoint
from .early_stopping import EarlyStopping
from .history import History
from .interrupt import GracefulInterrupt
from .progress import Throughput, format_count, progress


@dataclass
class FitResult:
    history: History
    epoch: int                   # epochs completed
    step: int                    # optimisation steps taken
    best: float = None           # best value of the monitored metric
    best_epoch: int = None       # 1-based epoch that reached it
    stopped_early: bool = False
    interrupted: bool = False
    exit_code: int = 0           # 128 + signal number when interrupted (130 for Ctrl-C), else 0
    run_dir: RunDir = None
    metrics: dict = field(default_factory=dict)  # the last epoch's row of the history


def fit(model, optimizer, sampler, train_step, evaluate=None, *, epochs, run_dir=None, resume=False,
        monitor="val_loss", mode="min", patience=None, min_delta=0.0, scheduler=None, rngs=None,
        states=None, array_states=None, on_epoch_end=None, config=None, unit="it", show_progress=None, log=None,
        plot=True):
    """Train ``model`` for ``epochs`` epochs (in total, counting those of a resumed run).

    ``sampler`` yields one batch per step and is resumable: a
    ``BatchSampler`` (or anything with its ``epoch``, ``__iter__``, ``__len__``,
    ``state_dict`` and ``load_state_dict``). ``train_step(batch)`` does one
    whole step (forward, backward, ``optimizer.step()``, clipping if wanted)
    and returns the batch's mean loss, or ``(mean_loss, n)`` where ``n`` counts
    the items (tokens, sentences) it covered; the epoch's ``train_loss`` is the
    n-weighted mean and throughput is reported in ``unit``/s.
    ``evaluate()`` runs after each epoch in eval mode without gradients and
    returns a dict of metrics such as ``{"val_loss": ..., "val_ppl": ...}``.

    The value named by ``monitor`` drives early stopping (``patience`` epochs
    without improvement by more than ``min_delta``; None never stops) and the
    best checkpoint. With ``run_dir`` the run keeps ``last.ckpt.npz`` (every
    epoch, and on Ctrl-C/SIGTERM mid-epoch), ``best.ckpt.npz``,
    ``history.json``, ``curves.png`` and ``config.json`` (from ``config``);
    ``resume=True`` continues exactly where ``last.ckpt.npz`` stopped, giving
    the same weights as an uninterrupted run. ``scheduler`` (anything with
    state_dict/load_state_dict) and the generators in ``rngs`` are saved and
    restored with it; step the scheduler in ``train_step`` or in
    ``on_epoch_end(epoch, metrics)``, which is called after each epoch. State
    that ``train_step`` keeps elsewhere is checkpointed too when named:
    ``states`` (objects whose ``state_dict`` is JSON-friendly) and
    ``array_states`` (whose ``state_dict`` holds arrays, such as an
    ``optim.ExponentialMovingAverage``), each a dict of name -> object.

    Returns a FitResult; after an interrupt its ``exit_code`` is 130 (SIGINT)
    or 143 (SIGTERM) for the command line to return.
    """
    log = log or (lambda text: print(text, file=sys.stderr, flush=True))
    if evaluate is None and monitor not in _BOOKKEEPING | {"train_loss", f"{unit}_per_s"}:
        # Checked now rather than after the first epoch, whose training would be lost.
        raise ValueError(f"fit: monitor={monitor!r} needs evaluate= to compute it (without evaluate, an "
                         "epoch's metrics are train_loss, lr, seconds and the throughput)")
    run = RunDir(run_dir) if run_dir is not None else None
    history = History()
    stopper = EarlyStopping(patience=patience, mode=mode, min_delta=min_delta)
    own = {"sampler": sampler, "early_stopping": stopper}
    clash = sorted(set(own) & set(states or {}))
    if clash:
        raise ValueError(f"fit: states may not use the names {clash}, which fit keeps for itself")
    states = {**own, **(states or {})}
    step, loss_sum, items = 0, 0.0, 0

    if run is not None:
        if resume:
            run.check_writable()
            checkpoint = load_checkpoint(run.last)
            restore(checkpoint, model, optimizer, scheduler, history=history, states=states, rngs=rngs,
                    array_states=array_states)
            step = checkpoint["step"]
            # Sums of the epoch in progress when an interrupt saved mid-epoch.
            partial = checkpoint["extra"].get("fit_partial_epoch", {})
            loss_sum, items = partial.get("loss_sum", 0.0), partial.get("items", 0)
            # Written again from the checkpoint: a run stopped between its last checkpoint and this file
            # (or unable to write it) would otherwise keep a history one epoch short, with no epoch left to fix it.
            history.save(run.history)
            log(f"resuming {run.last}: epoch {sampler.epoch + 1}, batch {sampler.position}/{len(sampler)}, "
                f"step {step}")
        elif run.has_checkpoint():
            raise CheckpointError(f"{run.path} already holds a run ({run.last.name}); resume it or choose "
                                  "another directory")
        run.create()
        if config is not None and not (resume and run.config.exists()):
            run.save_config(config)
    elif resume:
        raise ValueError("fit: resume=True needs the run_dir to resume from")

    def checkpoint_now():
        extra = {"fit_partial_epoch": {"loss_sum": loss_sum, "items": items}}
        save_checkpoint(run.last, model, optimizer, scheduler, epoch=sampler.epoch, step=step, history=history,
                        states=states, rngs=rngs, extra=extra, array_states=array_states)

    result = FitResult(history=history, epoch=sampler.epoch, step=step, run_dir=run)
    with GracefulInterrupt() as interrupt:
        while sampler.epoch < epochs and not stopper.should_stop:
            epoch = sampler.epoch  # 0-based; the history and logs count from 1
            model.train()
            speed = Throughput()
            started = time.perf_counter()
            bar = progress(total=len(sampler), initial=sampler.position, desc=f"epoch {epoch + 1}/{epochs}",
                           unit="batch", unit_scale=False,
                           disable=None if show_progress is None else not show_progress)
            with bar:
                for batch in sampler:
                    loss, n = _loss_and_count(train_step(batch))
                    if not math.isfinite(loss):
                        raise FloatingPointError(
                            f"the training loss became {loss} at epoch {epoch + 1}, step {step + 1}; "
                            "lower the learning rate or clip gradients"
                            + (f" (the last good checkpoint is {run.last})" if run and run.last.exists() else ""))
                    loss_sum += loss * n
                    items += n
                    step += 1
                    speed.update(n)
                    bar.update(1)
                    bar.set_postfix({"loss": f"{loss_sum / items:.4f}", f"{unit}/s": format_count(speed.rate)},
                                    refresh=False)
                    if interrupt.requested:
                        break
            if interrupt.requested and sampler.epoch == epoch:
                # Stopped mid-epoch: save where we are, including the epoch's running sums.
                where = f"interrupted by {interrupt.signal_name} at epoch {epoch + 1}, batch " \
                        f"{sampler.position}/{len(sampler)}"
                if run is not None:
                    checkpoint_now()
                    log(f"{where}: saved {run.last}; resume to continue")
                else:
                    log(f"{where} (no run directory, so nothing was saved)")
                result.interrupted, result.exit_code = True, interrupt.exit_code
                break

            row = {"epoch": epoch + 1, "train_loss": loss_sum / items if items else float("nan")}
            if evaluate is not None:
                model.eval()
                with no_grad():
                    row.update({k: _number(v) for k, v in evaluate().items()})
                model.train()
            row.update({"lr": optimizer.param_groups[0].get("lr"), f"{unit}_per_s": speed.rate,
                        "seconds": time.perf_counter() - started})
            if monitor not in row:
                raise KeyError(f"fit: monitor={monitor!r} is not among the epoch's metrics {sorted(row)}; "
                               "pass evaluate= returning it, or another monitor")
            improved = stopper.step(row[monitor])
            history.record(**row)
            loss_sum, items = 0.0, 0
            if on_epoch_end is not None:
                on_epoch_end(epoch + 1, row)
            if run is not None:
                if improved:
                    save_checkpoint(run.best, model, epoch=sampler.epoch, step=step, history=history,
                                    extra={"metrics": row, "monitor": monitor})
                checkpoint_now()
                history.save(run.history)
                if plot:
                    plot = _plot(history, run, log, row, unit)
            log(_summary(row, epochs, monitor, improved, unit))
            if interrupt.requested:
                log(f"interrupted by {interrupt.signal_name} after epoch {epoch + 1}"
                    + (f": saved {run.last}; resume to continue" if run else ""))
                result.interrupted, result.exit_code = True, interrupt.exit_code
                break
        else:
            if stopper.should_stop:
                result.stopped_early = True
                best = (f"best {stopper.best:.4g} at epoch {stopper.best_step + 1}" if stopper.best_step is not None
                        else "it never had a usable value")
                log(f"early stopping: {monitor} has not improved for {stopper.num_bad_steps} epochs ({best})")

    result.epoch, result.step = sampler.epoch, step
    result.metrics = {name: history.last(name) for name in history.metrics}
    if stopper.best_step is not None:
        result.best, result.best_epoch = stopper.best, stopper.best_step + 1
    return result


def _loss_and_count(output):
    if isinstance(output, tuple):
        loss, n = output
    else:
        loss, n = output, 1
    return _number(loss), int(n)


def _number(value):
    return float(value.item() if hasattr(value, "item") else value)


_BOOKKEEPING = {"epoch", "lr", "seconds"}


def _summary(row, epochs, monitor, improved, unit):
    skip = _BOOKKEEPING | {f"{unit}_per_s"}
    parts = [f"{k} {v:.4g}" + (" (best)" if k == monitor and improved else "")
             for k, v in row.items() if k not in skip and isinstance(v, float)]
    rate = row[f"{unit}_per_s"]
    return (f"epoch {row['epoch']}/{epochs}: " + ", ".join(parts)
            + f" [{rate:,.0f} {unit}/s, {row['seconds']:.1f}s]")


def _plot(history, run, log, row, unit):
    """Draw the curves; False (so fit stops trying) when matplotlib is missing."""
    # The losses together, then each evaluation metric; lr and timings only in history.json.
    names = [k for k, v in row.items() if k not in _BOOKKEEPING | {f"{unit}_per_s"} and isinstance(v, float)]
    losses = [k for k in names if k.endswith("loss")]
    panels = ([losses] if losses else []) + [[k] for k in names if k not in losses]
    try:
        history.plot(run.plot, metrics=panels, title=str(run.path))
    except ImportError as e:
        log(f"note: no training curves drawn ({e})")
        return False
    return True
