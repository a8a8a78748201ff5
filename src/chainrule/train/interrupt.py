"""Turn Ctrl-C and SIGTERM into a request the training loop answers at a safe point.

Raising KeyboardInterrupt in the middle of an optimiser update would leave the
weights half-updated; a scheduler's SIGTERM would lose everything since the
last epoch. Inside ``GracefulInterrupt`` the first signal only sets
``.requested``; the loop checks it between steps, saves a checkpoint and stops.
A second signal means "stop now" and raises KeyboardInterrupt at once.
"""
import signal
import sys
import threading


class Aborted(KeyboardInterrupt):
    """A second signal: stop at once, without the checkpoint. ``signum`` says which signal it was."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class GracefulInterrupt:
    """Context manager catching SIGINT and SIGTERM while a training loop runs.

        with GracefulInterrupt() as stop:
            for batch in batches:
                train_step(batch)
                if stop.requested:
                    save_checkpoint(...)
                    return stop.exit_code       # 130 for Ctrl-C, 143 for SIGTERM

    The handlers that were installed before are put back on exit. Outside the
    main thread Python cannot install signal handlers, so there the manager
    does nothing and ``.requested`` stays False.
    """

    def __init__(self, signals=(signal.SIGINT, signal.SIGTERM), message=True, file=None):
        self.signals = tuple(signals)
        self.message = message
        self.file = file
        self.requested = False
        self.signum = None
        self._previous = {}

    @property
    def signal_name(self):
        return signal.Signals(self.signum).name if self.signum is not None else None

    @property
    def exit_code(self):
        """The shell's convention for a process ended by a signal: 128 + its number (0 if none came)."""
        return 128 + self.signum if self.signum is not None else 0

    def _handle(self, signum, frame):
        if self.requested:
            # Second signal: the user does not want to wait for the checkpoint.
            self._restore()
            raise Aborted(signum)
        self.requested = True
        self.signum = signum
        if self.message:
            print(f"\nreceived {signal.Signals(signum).name}: saving a checkpoint at the end of this step "
                  "(send it again to abort without saving)", file=self.file or sys.stderr, flush=True)

    def _restore(self):
        for signum, handler in self._previous.items():
            # None means a handler installed outside Python; the default is the closest we can restore.
            signal.signal(signum, handler if handler is not None else signal.SIG_DFL)
        self._previous = {}

    def __enter__(self):
        self.requested = False
        self.signum = None
        if threading.current_thread() is threading.main_thread():
            for signum in self.signals:
                previous = signal.getsignal(signum)
                if previous == signal.SIG_IGN:
                    # Ignored on purpose (a job started with `cmd &` from a script ignores SIGINT):
                    # the Ctrl-C meant for the parent must not stop this run either.
                    continue
                self._previous[signum] = previous
                signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc):
        self._restore()
        return False
