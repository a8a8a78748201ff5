"""The ``chainrule`` command. Each subcommand lives in its own module here and
registers itself through ``register(subparsers)``; handlers stay thin and call
library functions, so all the CLI does can also be done from Python."""
import argparse
import importlib
import sys

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


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return args.func(args) or 0
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except CLIError as e:
        print(f"chainrule: error: {e}", file=sys.stderr)
        return 2


class CLIError(Exception):
    """An error the user can fix; printed without a traceback."""


if __name__ == "__main__":
    sys.exit(main())
