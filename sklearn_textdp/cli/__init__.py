"""The ``textdp`` command line: perturb tables of text, inspect epsilon, run the demo.

Commands
--------
``textdp perturb INPUT --column text --epsilon 10 -o OUTPUT``
    Replace every word of one column of a CSV, TSV, JSON lines or Parquet table
    by a private substitute, streaming it chunk by chunk (constant memory); the
    other columns are copied untouched. The output appears only once complete.
``textdp stats --epsilon 10 WORD...``
    The plausible-deniability table of some words: ``N_w`` (probability that the
    word is kept) and ``S_w`` (distinct outputs in ``--samples`` draws).
``textdp demo``
    Cross-validated accuracy against epsilon on the bundled SMS Spam data and
    GloVe embedding, for both substituters: a table and a PNG plot.

Exit codes
----------
0
    Success.
1
    Unexpected error (a bug: please report it with the output of ``-vv``).
2
    Usage error: unknown option, bad option value, unknown file format.
3
    Input error: missing or unreadable file, malformed CSV row or JSON line,
    wrong encoding, missing column, unreadable embeddings or keep-words file.
4
    Output error: refusing to overwrite the input or an existing file, cannot
    write the output.
5
    Privacy-parameter error: bad epsilon or ``--max-document-epsilon``, a
    mechanism refusing the epsilon given, a document over its budget.
130
    Interrupted (Ctrl-C, SIGINT). 143: terminated (SIGTERM); 129: hang-up.
    No partial output file is left behind.
141
    Standard output closed early (broken pipe, e.g. ``| head``).

The library does the work (:class:`~sklearn_textdp.DPWordSubstituter`,
:class:`~sklearn_textdp.DensityAwareSubstituter`,
:func:`~sklearn_textdp.plausible_deniability`,
:func:`~sklearn_textdp.privacy_utility_curve`); this module only parses options,
moves rows and reports.

Layout: ``_parsing`` (exit codes, errors, option types and the options
the commands share), one module per command (``_perturb``, ``_stats``,
``_demo``: its options and its handler), ``_main`` (the parser, logging,
signals and the mapping of errors to exit codes).

Examples
--------
>>> from sklearn_textdp.cli import main
>>> main(["perturb", "--help"])  # doctest: +ELLIPSIS, +NORMALIZE_WHITESPACE
usage: textdp perturb [-h] ...
0
"""

from ._main import get_parser, main
from ._parsing import MECHANISMS, ExitCode, make_substituter  # noqa: F401

__all__ = ["ExitCode", "get_parser", "main"]
