"""Shared parsing of ``textdp``: exit codes, errors, option types, common options.

The values given on the command line become library objects here (a checked
epsilon, loaded embeddings, an unfitted substituter); the command modules only
add their own options and run.
"""

import argparse
import codecs
import enum
import logging

from .._io import InputError

logger = logging.getLogger("sklearn_textdp")


class ExitCode(enum.IntEnum):
    """Exit statuses of ``textdp`` (see the module docstring)."""

    OK = 0
    UNEXPECTED = 1
    USAGE = 2
    INPUT = 3
    OUTPUT = 4
    PRIVACY = 5
    INTERRUPTED = 130
    BROKEN_PIPE = 141


_EXIT_CODES_HELP = """\
exit codes:
  0    success
  1    unexpected error (a bug: please report it with the output of -vv)
  2    usage error (bad option or value, unknown file format)
  3    input error (missing/unreadable file, malformed row, wrong encoding,
       missing column, unreadable embeddings or keep-words file)
  4    output error (refusing to overwrite the input or an existing file,
       cannot write)
  5    privacy-parameter error (bad epsilon or --max-document-epsilon, a
       mechanism refusing that epsilon, a document over its budget)
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM); no partial output is left
  141  standard output closed early (broken pipe)
"""

#: --mechanism choices: (substituter class name, constructor parameters).
MECHANISMS = {
    "laplace": ("DPWordSubstituter", {"mechanism": "laplace"}),
    "mahalanobis": ("DPWordSubstituter", {"mechanism": "mahalanobis"}),
    "vickrey": ("DPWordSubstituter", {"mechanism": "vickrey"}),
    "vickrey-mahalanobis": ("DPWordSubstituter", {"mechanism": "vickrey-mahalanobis"}),
    "density": ("DensityAwareSubstituter", {}),
    "density-knn": ("DensityAwareSubstituter", {"truncation": "knn", "prior": "kde"}),
    "density-radius": ("DensityAwareSubstituter", {"truncation": "radius"}),
    # The published mechanism: k nearest words, no prior (the default prior
    # would be ignored).
    "truncated-gumbel": (
        "DensityAwareSubstituter",
        {"truncation": "knn", "selection": "gumbel", "prior": None},
    ),
    "exponential": ("DensityAwareSubstituter", {"truncation": None}),
}
_MECHANISMS_HELP = """\
laplace, mahalanobis, vickrey, vickrey-mahalanobis: DPWordSubstituter (noisy
vector, nearest word); density (default): DensityAwareSubstituter's default;
density-knn: k nearest words, exponential selection, density prior;
density-radius: radius truncation; truncated-gumbel: the published truncated
Gumbel mechanism (large epsilon only); exponential: exponential mechanism over
the whole vocabulary"""

_SEED_WARNING = (
    "--seed makes the noise reproducible: anyone who knows the seed can remove it "
    "and the privacy guarantee is void. Use it for tests and benchmarks only."
)


class UsageError(Exception):
    """Options that parse but do not make sense together (exit code 2)."""


class PrivacyParameterError(Exception):
    """A privacy parameter the substituters refuse (exit code 5)."""


# ====================================================================== types
def _integer(text):
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None


def _positive_int(text):
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1; got {value}")
    return value


def _n_jobs(text):
    value = _integer(text)
    if value == 0:
        raise argparse.ArgumentTypeError("must not be 0 (-1: all processors)")
    return value


def _seed(text):
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0; got {value}")
    return value


def _encoding(text):
    try:
        codecs.lookup(text)
    except LookupError:
        raise argparse.ArgumentTypeError(f"unknown encoding: {text!r}") from None
    return text


def _add_verbosity(parser):
    # SUPPRESS: "-v" given after the command does not reset one given before it.
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=argparse.SUPPRESS,
        help="more log messages (-vv: debug, with tracebacks)",
    )


def _add_mechanism_options(parser):
    group = parser.add_argument_group("mechanism")
    group.add_argument(
        "-m",
        "--mechanism",
        choices=list(MECHANISMS),
        default="density",
        metavar="NAME",
        help=_MECHANISMS_HELP,
    )
    group.add_argument(
        "--embeddings",
        metavar="NAME_OR_PATH",
        default=None,
        help="public word embedding: 'glove-6b-50d-20k' (bundled, "
        "default), 'glove-6b-50d' (extra 'glove'), or a GloVe / "
        "word2vec / .npz file",
    )
    return group


# ====================================================================== values
def _privacy_number(text, option):
    """A positive, finite float from the command line, else exit code 5."""
    from ..privacy import check_epsilon

    try:
        value = float(text)
    except ValueError:
        raise PrivacyParameterError(
            f"{option} must be a number > 0; got {text!r}"
        ) from None
    try:
        return check_epsilon(value, option)
    except ValueError as exc:
        raise PrivacyParameterError(str(exc).rstrip(".")) from None


def _load_embeddings(source):
    if source is None:
        return None  # the bundled default, loaded (and cached) by fit
    from .._embeddings import load_embeddings

    try:
        return load_embeddings(source)
    except (ValueError, OSError, ImportError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot load embeddings {source!r}: {exc}") from None


def _keep_words(option):
    if option is None or option == "english":
        return option
    try:
        with open(option, encoding="utf-8") as fh:
            return [line.strip() for line in fh if line.strip()]
    except (OSError, UnicodeDecodeError) as exc:
        raise InputError(f"cannot read --keep-words file {option!r}: {exc}") from None


def make_substituter(mechanism, epsilon, **params):
    """An unfitted substituter for a ``--mechanism`` name.

    Parameters
    ----------
    mechanism : str
        A key of :data:`MECHANISMS`.
    epsilon : float
    **params
        Other constructor parameters.

    Returns
    -------
    substituter : DPWordSubstituter or DensityAwareSubstituter

    Examples
    --------
    >>> make_substituter("density-radius", 8.0)
    DensityAwareSubstituter(epsilon=8.0, truncation='radius')
    """
    import sklearn_textdp

    class_name, fixed = MECHANISMS[mechanism]
    return getattr(sklearn_textdp, class_name)(epsilon, **fixed, **params)


def _fit(substituter):
    try:
        return substituter.fit([])
    except (ValueError, TypeError) as exc:  # includes sklearn's InvalidParameterError
        raise PrivacyParameterError(str(exc)) from None
