"""The `scratchae` command: one sub-command per module of this package.

    scratchae demo         train the article's autoencoders and draw its figures  (cli/demo.py)
    scratchae train NAME   train one autoencoder                                   (cli/train.py)
    scratchae train NAME --use dense=FILE    ... with your exercise's class, beside scratchae's (cli/own.py)
    scratchae gradcheck    check every backward pass of the article's models       (cli/gradcheck.py)
    scratchae grade PIECE PATH   grade exercise submissions, partial credit         (cli/grade.py)

Exit codes: 0 success, 1 a check failed (or a piece of yours did not train like scratchae's),
2 bad arguments or missing data, 130 interrupted (Ctrl-C), 143 stopped by SIGTERM, 129 by SIGHUP
(train and demo save the completed epochs first).
"""
from __future__ import annotations

import argparse
import os
import sys

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130


class UsageError(Exception):
    """A problem with what the user asked for: printed as one line, exit code 2."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (`scratchae: error: ...`) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        print(f"scratchae: error: {message} (see {self.prog} --help)", file=sys.stderr)
        sys.exit(EXIT_USAGE)


def _parser() -> argparse.ArgumentParser:
    from . import demo, grade, gradcheck, train   # each module adds its own sub-commands

    parser = _Parser(
        prog="scratchae",
        description="Autoencoders from scratch in NumPy: train the article's models, check gradients.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    demo.add_commands(sub)
    train.add_commands(sub)
    gradcheck.add_commands(sub)
    grade.add_commands(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line; returns the exit code (see the module docstring)."""
    try:                            # Ctrl-C while the sub-commands import NumPy: no traceback
        parser = _parser()
        args = parser.parse_args(argv)
        if not getattr(args, "run", None):
            parser.print_help()
            return EXIT_USAGE
        return int(args.run(args) or EXIT_OK)
    except UsageError as exc:
        print(f"scratchae: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except FloatingPointError as exc:       # NonFiniteLossError where no command caught it
        print(f"scratchae: error: training diverged: {exc}", file=sys.stderr)
        return EXIT_FAILED
    except MemoryError as exc:      # sizes the up-front checks let through
        print(f"scratchae: error: out of memory ({exc or 'MemoryError'}): try smaller sizes "
              "(--code-size, --hidden-size, --batch-size)", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("\nscratchae: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # the reader of our output left (`scratchae gradcheck --list | head`): not an error.
        # Point stdout at /dev/null so Python's final flush does not raise again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_OK
