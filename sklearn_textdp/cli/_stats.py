"""``textdp stats``: the plausible-deniability table of some words."""

import argparse
import json

from ._parsing import (
    _EXIT_CODES_HELP,
    ExitCode,
    _add_mechanism_options,
    _add_verbosity,
    _fit,
    _load_embeddings,
    _positive_int,
    _privacy_number,
    _seed,
    logger,
    make_substituter,
)

_STATS_DESCRIPTION = """\
Plausible deniability of some words: for each word and epsilon, draw --samples
perturbations. N_w is the share that keeps the word, S_w the number of distinct
outputs; high N_w and low S_w mean little deniability.

Words may follow the epsilons: the values of --epsilon are the numbers given,
up to the first value that is not a number. (A word that is a number goes before
--epsilon.)

example:
  textdp stats --epsilon 5 10 movie doctor
"""


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


class _EpsilonsThenWords(argparse.Action):
    """``--epsilon 5 10 movie doctor``: 5 and 10 are epsilons, the rest are words.

    ``nargs="+"`` alone takes every value up to the next option, words included.
    A first value that is not a number stays an epsilon (and is refused as one).
    """

    def __call__(self, parser, namespace, values, option_string=None):
        n = next((i for i, v in enumerate(values) if not _is_number(v)), len(values))
        n = max(n, 1)
        setattr(namespace, self.dest, values[:n])
        namespace.words_after_epsilon = [*namespace.words_after_epsilon, *values[n:]]


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "stats",
        help="plausible deniability (N_w, S_w) of some words",
        description=_STATS_DESCRIPTION,
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_verbosity(parser)
    parser.add_argument(
        "words",
        nargs="*",
        metavar="WORD",
        help="words to examine (default: 200 random vocabulary words)",
    )
    group = _add_mechanism_options(parser)
    group.add_argument(
        "-e",
        "--epsilon",
        required=True,
        nargs="+",
        action=_EpsilonsThenWords,
        help="one or more epsilons (words may follow them)",
    )
    parser.add_argument(
        "--samples",
        type=_positive_int,
        default=1000,
        help="perturbations drawn per word (default: %(default)s)",
    )
    parser.add_argument(
        "--seed",
        type=_seed,
        default=None,
        help="seed of the draws (reproducible estimates)",
    )
    parser.add_argument(
        "--format",
        choices=["table", "csv", "json"],
        default="table",
        help="output format (default: %(default)s)",
    )
    parser.set_defaults(handler=_stats_command, words_after_epsilon=[])


def _stats_command(args):
    from ..model_selection import plausible_deniability

    epsilons = [_privacy_number(e, "--epsilon") for e in args.epsilon]
    embeddings = _load_embeddings(args.embeddings)
    tables = []
    for i, epsilon in enumerate(epsilons):
        substituter = _fit(
            make_substituter(args.mechanism, epsilon, embeddings=embeddings)
        )
        seed = None if args.seed is None else args.seed + i
        table = plausible_deniability(
            substituter,
            words=[*args.words, *args.words_after_epsilon] or None,
            n_samples=args.samples,
            random_state=seed,
        )
        table.insert(0, "epsilon", epsilon)
        tables.append(table)
    import pandas as pd

    table = pd.concat(tables, ignore_index=True)
    missing = table.loc[~table["in_vocabulary"], "word"].unique().tolist()
    if missing:
        logger.warning("not in the vocabulary (no statistics): %s", ", ".join(missing))
    print(_format_table(table, args.format))
    return ExitCode.OK


def _format_table(table, fmt):
    # Counts as integers (nullable: words missing from the vocabulary have none).
    table = table.astype({c: "Int64" for c in ("S_w", "S_w_other") if c in table})
    if fmt == "csv":
        return table.to_csv(index=False, lineterminator="\n").rstrip("\n")
    if fmt == "json":
        records = json.loads(table.to_json(orient="records"))
        return json.dumps(records, indent=2, ensure_ascii=False)
    return table.to_string(
        index=False, formatters={"epsilon": "{:g}".format, "N_w": "{:.3f}".format}
    )
