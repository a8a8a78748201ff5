"""chainrule.train: the pieces every training command is built from.

- ``BatchSampler``: shuffled index batches, resumable mid-epoch.
- ``progress``, ``Throughput``: progress bars (tqdm when installed) and items/s.
- ``EarlyStopping``: patience on a validation metric.
- ``History``: per-epoch metrics, saved as JSON, drawn as a PNG.
- ``RunDir``, ``save_checkpoint``, ``load_checkpoint``, ``restore``: a run
  directory (``config.json``, ``last.ckpt.npz``, ``best.ckpt.npz``,
  ``history.json``, ``curves.png``) and exact resume. No pickle anywhere.
- ``GracefulInterrupt``: Ctrl-C or SIGTERM asks for a checkpoint at the next
  safe point; a second one aborts.
- ``atomic_write_text`` / ``_bytes`` / ``_json``, ``atomic_open``: files
  that are either the old version or the whole new one, never half.
- ``fit``: a generic loop combining all of the above, for trainers that only
  want to write a step and an evaluation.

A loop written from the pieces, with resume, interrupt, early stopping and
the best checkpoint (``fit`` does the same, with progress bars and logs)::

    from chainrule import optim
    from chainrule.train import (BatchSampler, EarlyStopping, GracefulInterrupt, History, RunDir,
                                 load_checkpoint, restore, save_checkpoint)

    run = RunDir("runs/lm").create()
    opt = optim.Adam(model.parameters(), lr=1e-3)
    sampler = BatchSampler(len(train_x), batch_size=64, shuffle=True)
    stopper, history = EarlyStopping(patience=3, mode="min"), History()
    states = {"sampler": sampler, "early_stopping": stopper}
    step = 0
    if resume:                                    # --resume runs/lm
        ckpt = restore(load_checkpoint(run.last), model, opt, history=history, states=states)
        step = ckpt["step"]

    with GracefulInterrupt() as stop:
        while sampler.epoch < epochs and not stopper.should_stop:
            model.train()
            for idx in sampler:                   # finishing the epoch advances sampler.epoch
                loss = F.cross_entropy(model(train_x[idx]), train_y[idx])
                opt.zero_grad()
                loss.backward()
                opt.step()
                step += 1
                if stop.requested:                # Ctrl-C or SIGTERM: leave at this safe point
                    break
            else:                                 # the epoch is complete
                val_loss = evaluate(model)        # in model.eval() and cr.no_grad()
                history.record(epoch=sampler.epoch, val_loss=val_loss)
                if stopper.step(val_loss):
                    save_checkpoint(run.best, model, epoch=sampler.epoch, step=step)
                history.save(run.history)
            # Every epoch, and mid-epoch after an interrupt (the sampler knows its batch).
            save_checkpoint(run.last, model, opt, epoch=sampler.epoch, step=step, history=history,
                            states=states)
            if stop.requested:
                break
    history.plot(run.plot)
    return stop.exit_code                         # 130 after Ctrl-C, 143 after SIGTERM, else 0

Restoring puts chainrule's random generator back too (dropout masks), so a
run resumed from ``last.ckpt.npz`` ends with exactly the weights of one that
was never interrupted. Pass any other ``numpy.random.Generator`` your loop
draws from as ``rngs={"name": gen}`` to both ``save_checkpoint`` and
``restore``.
"""
from .atomic import atomic_open, atomic_write_bytes, atomic_write_json, atomic_write_text
from .checkpoint import CheckpointError, CheckpointNotFoundError, RunDir, load_checkpoint, restore, save_checkpoint
from .early_stopping import EarlyStopping
from .fit import FitResult, fit
from .history import History
from .interrupt import GracefulInterrupt
from .progress import Throughput, format_count, progress
from .sampler import BatchSampler

__all__ = [
    "BatchSampler", "CheckpointError", "CheckpointNotFoundError", "EarlyStopping", "FitResult",
    "GracefulInterrupt", "History", "RunDir", "Throughput", "atomic_open", "atomic_write_bytes",
    "atomic_write_json", "atomic_write_text", "fit", "format_count", "load_checkpoint", "progress", "restore",
    "save_checkpoint",
]
