"""``chainrule explain "c*(a+2*b)" a=3 b=1 c=-2``: backpropagation on a formula, step by step."""
import argparse
import json
import os
import sys
import warnings
from pathlib import Path

from . import CLIError


def register(subparsers):
    p = subparsers.add_parser(
        "explain", help="show the forward and backward pass of a formula, node by node",
        description="Build a formula from chainrule tensors, run the engine's forward and backward pass,\n"
                    "and print every node's value and every chain-rule step.\n"
                    "Allowed: numbers, variables, + - * / **, unary minus, and exp log tanh sigmoid relu sqrt.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog='example: chainrule explain "c*(a+2*b)" a=3 b=1 c=-2 --svg graph.svg\n'
               'a formula that starts with a minus sign goes after --: chainrule explain -- "-a*b" a=1 b=2')
    p.add_argument("expression", help='the formula, e.g. "c*(a+2*b)" (quote it for the shell)')
    p.add_argument("values", nargs="*", metavar="NAME=VALUE", help="a value for every variable, e.g. a=3 c=-2")
    p.add_argument("--json", action="store_true", help="print the value, gradients and nodes as JSON")
    p.add_argument("--svg", metavar="FILE", help="draw the graph with its values and gradients to an SVG file")
    p.add_argument("--png", metavar="FILE", help="draw the graph to a PNG file")
    p.add_argument("--pdf", metavar="FILE", help="the same drawing as a PDF file")
    p.add_argument("--dot", metavar="FILE", help="write the graph's Graphviz source (.dot or .gv)")
    p.add_argument("--ascii", action="store_true", help="plain ASCII: d and * for the partial-derivative and product signs")
    p.set_defaults(func=run)


def run(args):
    from ..explain import ExplainError, explain, parse_assignments

    _check_suffixes(args)
    _check_folders(args)
    try:
        explanation = explain(args.expression, parse_assignments(args.values))
    except ExplainError as e:
        raise CLIError(str(e)) from None

    if args.json:
        print(json.dumps(explanation.to_dict(), indent=2))
    else:
        plain = args.ascii or not _can_print("∂·")
        text = explanation.text(ascii=plain)
        if plain:  # names such as α too: written as \u03b1 rather than failing to print
            text = text.encode("ascii", "backslashreplace").decode("ascii")
        print(text, end="")

    for path in (args.dot, args.svg, args.png, args.pdf):
        if path:
            _draw(explanation, path)
    return 0


def _check_suffixes(args):
    # The file name decides the format when drawing, so --svg x.png would quietly write a PNG.
    for option, path, suffixes in (("dot", args.dot, (".dot", ".gv")), ("svg", args.svg, (".svg",)),
                                   ("png", args.png, (".png",)), ("pdf", args.pdf, (".pdf",))):
        if path and Path(path).suffix.lower() not in suffixes:
            raise CLIError(f"--{option} needs a file name ending in {' or '.join(suffixes)}, got {path}")


def _check_folders(args):
    # Before anything is printed or written: a missing folder for the last file asked for would
    # otherwise stop the command after the first files were written.
    for path in (args.dot, args.svg, args.png, args.pdf):
        if not path:
            continue
        target = Path(path)
        folder = target.parent
        if target.is_dir():
            raise CLIError(f"cannot write {path}: it is a folder")
        if not folder.is_dir():
            raise CLIError(f"cannot write {path}: the folder {folder.resolve()} does not exist")
        if not os.access(folder, os.W_OK):
            raise CLIError(f"cannot write {path}: the folder {folder.resolve()} is not writable")


def _draw(explanation, path):
    from ..graph import GraphvizNotFoundWarning

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", GraphvizNotFoundWarning)
        try:
            written = explanation.draw(path)
        except OSError as e:
            # Our own errors already name the file; the operating system's get it added.
            raise CLIError(f"cannot write {path}: {e.strerror}" if e.strerror else str(e)) from None
    for w in caught:
        print(f"chainrule: note: {w.message}", file=sys.stderr)
    print(f"wrote {written}", file=sys.stderr)


def _can_print(symbols):
    """False when stdout's encoding (say, a plain ASCII pipe) cannot show ``symbols``."""
    try:
        symbols.encode(sys.stdout.encoding or "ascii")
        return True
    except (UnicodeEncodeError, LookupError):
        return False
