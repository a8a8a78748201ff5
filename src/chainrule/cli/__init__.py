"""The ``chainrule`` command. Each subcommand lives in its own module here and
registers itself through ``register(subparsers)``; handlers stay thin and call
library functions, so all the CLI does can also be done from Python."""
import argparse
import importlib
import os
import sys
import warnings

# Subcommand modules, in the order ``chainrule --help`` lists them.
COMMANDS = ["explain", "demo", "lm", "embeddings", "cnn"]


def build_parser():
    parser = argparse.ArgumentParser(
        prog="chainrule",
        description="Deep learning on natural language, on chainrule's own autodiff engine.")
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name and e.name.startswith(f"{__name__}.{name}"):
                continue  # a subcommand not built yet
            raise
        module.register(sub)
    return parser


def _version():
    from .. import __version__
    return f"chainrule {__version__}"


def _show_warning(message, category, filename, lineno, file=None, line=None):
    print(f"chainrule: warning: {message}", file=file or sys.stderr, flush=True)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        with warnings.catch_warnings():
            # The library's warnings (sentences cut to max_len, a missing best checkpoint ...) are
            # messages to the user here, not to a developer: one line each, without the source line.
            warnings.showwarning = _show_warning
            return args.func(args) or 0
    except KeyboardInterrupt as e:
        signum = getattr(e, "signum", 2)  # a second SIGTERM is 143, as a first one is
        print("interrupted without saving; a training run continues from its last checkpoint (saved at the end "
              "of each epoch) with --resume DIR", file=sys.stderr)
        return 128 + signum
    except Exception as e:
        # Bad input (a missing file, a malformed corpus, a wrong shape, a damaged checkpoint,
        # a folder that cannot be written, a diverged loss) is reported in one line;
        # CHAINRULE_DEBUG=1 shows the traceback for bug reports. Anything else is a bug.
        if not isinstance(e, _user_errors()) or os.environ.get("CHAINRULE_DEBUG"):
            raise
        if isinstance(e, KeyError) and e.args:
            message = e.args[0]
        elif isinstance(e, OSError) and e.filename is not None and e.strerror:
            message = f"{e.filename}: {e.strerror}"  # not "[Errno 30] ..."
        else:
            message = e
        print(f"chainrule: error: {message}", file=sys.stderr)
        return 2


class CLIError(Exception):
    """An error the user can fix; printed without a traceback."""


# Exceptions whose messages are written for users (they name the file, line or shapes). OSError
# covers a folder that cannot be written: read-only, full, a file where a folder should be.
USER_ERRORS = (CLIError, OSError, ValueError, UnicodeDecodeError, KeyError, IndexError, FloatingPointError)


def _user_errors():
    from ..train.checkpoint import CheckpointError  # imported late: --help should not load NumPy
    return USER_ERRORS + (CheckpointError,)


if __name__ == "__main__":
    sys.exit(main())
