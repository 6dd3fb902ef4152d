"""The ``fastdnn`` command: train, predict, quantize, serve, info, demo, warmup.

One module per group of commands, each adding its own arguments (``register``):
``models`` (train, predict, quantize), ``serve``, ``machine`` (info, warmup, demo);
``data`` reads their HDF5 input.

Exit codes: 0 on success; 2 for bad usage, bad input or a file that cannot be
read or written (one line on stderr); 130 on Ctrl-C; 1 for anything unexpected.
"""

import argparse
import sys

from . import machine, models, serve
from .machine import environment

__all__ = ["build_parser", "environment", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line like every other error (usage: --help)."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def build_parser():
    parser = _Parser(
        prog="fastdnn", description="Train and run the course's deep network on fast CPU kernels."
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (models, serve, machine):
        module.register(sub)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        args.func(args)
    except (ValueError, TypeError, OSError, ImportError) as exc:
        # One line, whatever the message: a script can log it or grep it.
        prefix = f"fastdnn {args.command}: "
        message = " ".join(str(exc).split())
        message = message[len(prefix) :] if message.startswith(prefix) else message
        print(f"{prefix}error: {message}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"fastdnn {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0
