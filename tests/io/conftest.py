"""The fixtures of the command-line tests (see :mod:`tests.cli_support`)."""

from tests.cli_support import run  # noqa: F401
