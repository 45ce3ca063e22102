"""The ``textdp`` parser and ``main``: logging, signals, errors to exit codes."""

import argparse
import contextlib
import logging
import os
import signal
import sys
import threading
import warnings
from collections.abc import Sequence

from .. import __version__
from .._io import InputError, OutputError
from . import _demo, _perturb, _stats
from ._parsing import (
    _EXIT_CODES_HELP,
    ExitCode,
    PrivacyParameterError,
    UsageError,
    logger,
)


class Terminated(BaseException):
    """A termination signal, raised like KeyboardInterrupt so clean-up code runs."""

    def __init__(self, signum):
        super().__init__(signum)
        self.signum = signum


def get_parser():
    """The argument parser of ``textdp`` (builds it; does no I/O).

    Returns
    -------
    parser : argparse.ArgumentParser

    Examples
    --------
    >>> args = get_parser().parse_args(["perturb", "in.csv", "-e", "10", "-o", "o.csv"])
    >>> args.command, args.column, args.mechanism, args.chunk_size
    ('perturb', 'text', 'density', 10000)
    """
    parser = argparse.ArgumentParser(
        prog="textdp",
        description="Word-level metric differential privacy for text "
        "(sklearn_textdp). Start with 'textdp demo'.",
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}"
    )
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="more log messages (-vv: debug, with tracebacks)",
    )
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in (_perturb, _stats, _demo):
        command.add_parser(subparsers)
    return parser


# ====================================================================== main
class _Formatter(logging.Formatter):
    def format(self, record):
        message = f"textdp: {record.levelname.lower()}: {record.getMessage()}"
        if record.exc_info:
            message += "\n" + self.formatException(record.exc_info)
        return message


@contextlib.contextmanager
def _logging(verbosity):
    """Log to the current stderr for the duration of one ``main`` call."""
    level = (
        logging.WARNING
        if verbosity == 0
        else (logging.INFO if verbosity == 1 else logging.DEBUG)
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_Formatter())
    saved = logger.level, logger.propagate
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False

    def show_warning(message, category, filename, lineno, file=None, line=None):
        logger.warning("%s: %s", category.__name__, message)

    try:
        with warnings.catch_warnings():
            # Privacy warnings are always shown, whatever the user's filters; the
            # other filters (e.g. warnings turned into errors) are left alone.
            from ..privacy import PrivacyLeakWarning

            warnings.filterwarnings("default", category=PrivacyLeakWarning)
            warnings.showwarning = show_warning
            yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]


@contextlib.contextmanager
def _signals_as_exceptions():
    """Turn SIGTERM and SIGHUP into :class:`Terminated`, so that clean-up code
    (removing a temporary output) runs as it does for Ctrl-C."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum, frame):
        signal.signal(signum, signal.SIG_IGN)  # a second signal must not stop clean-up
        raise Terminated(signum)

    names = ("SIGTERM", "SIGHUP")
    signals = [getattr(signal, n) for n in names if hasattr(signal, n)]
    previous = {s: signal.signal(s, handler) for s in signals}
    try:
        yield
    finally:
        for s, old in previous.items():
            signal.signal(s, old)


def _silence_stdout():
    """After a broken pipe, stop Python from failing again when flushing stdout."""
    with contextlib.suppress(OSError, ValueError, AttributeError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())


def _error(args, message):
    command = getattr(args, "command", None)
    prog = "textdp" if command is None else f"textdp {command}"
    print(f"{prog}: error: {message}", file=sys.stderr)


def _run(args):
    """Run the command of ``args``; map failures to exit codes."""
    try:
        return int(args.handler(args))
    except UsageError as exc:
        _error(args, exc)
        return ExitCode.USAGE
    except InputError as exc:
        _error(args, exc)
        return ExitCode.INPUT
    except OutputError as exc:
        _error(args, exc)
        return ExitCode.OUTPUT
    except PrivacyParameterError as exc:
        _error(args, exc)
        return ExitCode.PRIVACY
    except KeyboardInterrupt:
        _error(args, "interrupted; no output file was written")
        return ExitCode.INTERRUPTED
    except Terminated as exc:
        _error(args, f"terminated by signal {exc.signum}; no output file was written")
        return 128 + exc.signum
    except BrokenPipeError:
        _silence_stdout()
        return ExitCode.BROKEN_PIPE
    except Exception as exc:
        logger.debug("traceback:", exc_info=True)
        _error(
            args,
            f"unexpected {type(exc).__name__}: {exc} (this is a bug; run "
            "with -vv for the traceback and please report it)",
        )
        return ExitCode.UNEXPECTED


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``textdp`` with the arguments ``argv`` (default: ``sys.argv[1:]``).

    Parameters
    ----------
    argv : sequence of str, default=None

    Returns
    -------
    status : int
        The exit status (see :class:`ExitCode` and the module docstring).
    """
    parser = get_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return exc.code if isinstance(exc.code, int) else ExitCode.USAGE
    with _logging(args.verbose), _signals_as_exceptions():
        return _run(args)
