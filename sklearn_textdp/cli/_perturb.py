"""``textdp perturb``: one text column of a table, streamed chunk by chunk."""

import argparse
import contextlib
import math
import sys
import time

import numpy as np

from .._io import (
    FORMATS,
    atomic_output,
    check_output_path,
    infer_format,
    open_reader,
    open_writer,
)
from ._parsing import (
    _EXIT_CODES_HELP,
    _SEED_WARNING,
    ExitCode,
    PrivacyParameterError,
    UsageError,
    _add_mechanism_options,
    _add_verbosity,
    _encoding,
    _fit,
    _keep_words,
    _load_embeddings,
    _n_jobs,
    _positive_int,
    _privacy_number,
    _seed,
    logger,
    make_substituter,
)

_PERTURB_DESCRIPTION = """\
Replace every word of one column of a table by a private substitute.

The table is streamed in chunks (constant memory); the other columns are copied
untouched and in order; missing texts stay missing. A file output appears only
once complete: an error, Ctrl-C or SIGTERM leaves no partial file. A privacy
summary is printed on stderr at the end.

example:
  textdp perturb reviews.csv --column text --epsilon 10 -o reviews.private.csv
"""


def add_parser(subparsers):
    parser = subparsers.add_parser(
        "perturb",
        help="perturb one text column of a CSV / JSON lines / Parquet table",
        description=_PERTURB_DESCRIPTION,
        epilog=_EXIT_CODES_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _add_verbosity(parser)
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="input table; '-' reads standard input (CSV, TSV, JSON lines)",
    )
    parser.add_argument(
        "-o",
        "--output",
        default="-",
        metavar="OUTPUT",
        help="output table; '-' (default) writes standard output",
    )
    parser.add_argument(
        "-c",
        "--column",
        default="text",
        help="the column of text to perturb (default: %(default)s)",
    )
    formats = list(FORMATS)
    parser.add_argument(
        "--input-format",
        choices=formats,
        default=None,
        help="default: from the extension (.csv, .tsv, .jsonl, "
        ".ndjson, .parquet, optionally .gz); csv for stdin",
    )
    parser.add_argument(
        "--output-format",
        choices=formats,
        default=None,
        help="default: from the extension; the input's for stdout",
    )
    parser.add_argument(
        "--encoding",
        type=_encoding,
        default="utf-8",
        help="text encoding of CSV / JSON lines input (default: "
        "%(default)s); output is always UTF-8",
    )
    parser.add_argument(
        "--chunk-size",
        type=_positive_int,
        default=10_000,
        metavar="ROWS",
        help="rows read, perturbed and written at a time (default: %(default)s)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing output file (never the input)",
    )

    group = _add_mechanism_options(parser)
    group.add_argument(
        "-e",
        "--epsilon",
        required=True,
        help="privacy parameter per word and unit of embedding "
        "distance (> 0; smaller is more private)",
    )
    group.add_argument(
        "--unknown-words",
        choices=["placeholder", "sample", "keep"],
        default="placeholder",
        help="words missing from the vocabulary: a placeholder "
        "(default), a random vocabulary word, or kept in clear "
        "(no privacy for them)",
    )
    group.add_argument(
        "--placeholder",
        default="<unk>",
        help="placeholder of unknown words (default: %(default)s)",
    )
    group.add_argument(
        "--keep-words",
        metavar="english|FILE",
        default=None,
        help="public words released in clear: 'english' stop words, "
        "or a file with one word per line",
    )
    group.add_argument(
        "--max-document-epsilon",
        default=None,
        metavar="EPSILON",
        help="budget per document on epsilon x perturbed words",
    )
    group.add_argument(
        "--budget-action",
        choices=["raise", "truncate"],
        default="raise",
        help="a document over budget: stop with exit code 5 "
        "(default), or cut it before the first word over budget",
    )
    group.add_argument(
        "--seed",
        type=_seed,
        default=None,
        help="reproducible noise, for tests only: a known seed voids "
        "the guarantee (default: fresh OS entropy)",
    )
    group.add_argument(
        "--n-jobs",
        type=_n_jobs,
        default=None,
        help="threads per chunk (the output does not depend on it)",
    )

    display = parser.add_argument_group("display")
    display.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="no progress bar and no privacy summary",
    )
    display.add_argument(
        "--progress",
        action="store_true",
        help="show the progress bar even when stderr is not a terminal",
    )
    parser.set_defaults(handler=_perturb_command)


def _perturbation_seeds(seed):
    """Seed of chunk ``i``: an independent stream per chunk, never the same noise
    twice (fresh entropy without ``seed``)."""
    from ..utils._random import root_seed_sequence

    root = root_seed_sequence(seed)

    def chunk_seed(i):
        return np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, i))

    return chunk_seed


class _PrivacySummary:
    """Totals of ``privacy_cost`` over the chunks, reported at the end."""

    def __init__(self, substituter, mechanism):
        self.substituter, self.mechanism = substituter, mechanism
        self.rows = self.missing = 0
        self.words = self.perturbed = self.unknown = self.kept = 0
        self.max_epsilon = self.sum_epsilon = self.max_worst_case = 0.0

    def add(self, cost, texts):
        present = np.array([t is not None for t in texts], dtype=bool)
        self.rows += len(texts)
        self.missing += int((~present).sum())
        self.words += int(cost["n_words"].sum())
        self.perturbed += int(cost["n_perturbed"].sum())
        self.unknown += int(cost["n_unknown"].sum())
        self.kept += int(cost["n_kept"].sum())
        if len(cost):
            self.max_epsilon = max(
                self.max_epsilon, float(cost["epsilon_per_unit"].max())
            )
            self.max_worst_case = max(
                self.max_worst_case, float(cost["epsilon_worst_case"].max())
            )
        self.sum_epsilon += float(cost["epsilon_per_unit"].to_numpy()[present].sum())

    def report(self):
        sub = self.substituter
        documents = self.rows - self.missing
        mean = self.sum_epsilon / documents if documents else 0.0
        unknown = {
            "placeholder": f"replaced by {sub.placeholder!r}",
            "sample": "replaced by random vocabulary words",
            "keep": "KEPT IN CLEAR",
        }[sub.unknown_words]
        lines = [
            f"privacy summary: --mechanism {self.mechanism}, epsilon {sub.epsilon:g} "
            "per word and unit of embedding distance",
            f"  documents                {documents:,} (+ {self.missing:,} missing)",
            f"  words                    {self.words:,}",
            f"  words perturbed          {self.perturbed:,}",
            f"  words unknown            {self.unknown:,} ({unknown})",
            f"  words kept in clear      {self.kept:,}",
            f"  per-document epsilon     max {self.max_epsilon:,.4g}, mean {mean:,.4g} "
            "(epsilon x perturbed words)",
            f"  worst case per document  max {self.max_worst_case:,.4g} (x vocabulary "
            f"diameter {sub.vocabulary_diameter_:.3g})",
        ]
        return "\n".join(lines)


def _check_budget(substituter, chunk, cost):
    """Name the first document over ``--max-document-epsilon`` (budget_action
    "raise") before perturbing anything of its chunk."""
    budget = substituter.max_document_epsilon
    if budget is None or substituter.budget_action != "raise":
        return
    to_perturb = (cost["n_words"] - cost["n_unknown"] - cost["n_kept"]).to_numpy()
    allowed = math.floor(budget / substituter.epsilon + 1e-9)
    over = np.flatnonzero(to_perturb > allowed)
    if len(over):
        i = int(over[0])
        raise PrivacyParameterError(
            f"{chunk.where(i)}: {to_perturb[i]} words to perturb: epsilon x words = "
            f"{substituter.epsilon * to_perturb[i]:g} exceeds --max-document-epsilon "
            f"{budget:g} (at most {allowed} words); use --budget-action truncate to "
            "cut such documents"
        )


def _perturb_chunk(substituter, chunk, seed, summary):
    cost = substituter.privacy_cost(chunk.texts)
    _check_budget(substituter, chunk, cost)
    try:
        texts = substituter._perturb(chunk.texts, seed)
    except ValueError as exc:  # the library's own budget check, as a fallback
        if "max_document_epsilon" not in str(exc):
            raise
        raise PrivacyParameterError(f"rows from {chunk.where(0)}: {exc}") from None
    summary.add(cost, chunk.texts)
    return texts


class _NoProgress:
    def update(self, reader, rows):
        pass


class _Progress:
    def __init__(self, bar):
        self.bar = bar

    def update(self, reader, rows):
        self.bar.update(reader.progress - self.bar.n)
        self.bar.set_postfix(rows=f"{rows:,}", refresh=False)


#: Seconds between two progress lines when stderr is not a terminal.
_PROGRESS_LINE_SECONDS = 30.0


class _ProgressLines:
    """Progress without a terminal (a log, a CI job): one line on stderr at most
    every :data:`_PROGRESS_LINE_SECONDS`, none for a short run."""

    def __init__(self):
        self.start = self.last = time.monotonic()

    def update(self, reader, rows):
        now = time.monotonic()
        if now - self.last < _PROGRESS_LINE_SECONDS:
            return
        self.last = now
        done = ""
        if reader.total:
            done = f", {min(reader.progress / reader.total, 1.0):.0%} of the input"
        print(
            f"textdp perturb: {rows:,} rows{done} ({now - self.start:.0f} s)",
            file=sys.stderr,
            flush=True,
        )


@contextlib.contextmanager
def _progress_bar(reader, *, quiet, force):
    if quiet:
        yield _NoProgress()
        return
    if not (force or sys.stderr.isatty()):
        yield _ProgressLines()
        return
    try:
        from tqdm import tqdm
    except ImportError:
        logger.info("no progress bar: tqdm is not installed (extra 'cli')")
        yield _NoProgress()
        return
    bar = tqdm(
        total=reader.total,
        unit=reader.unit,
        unit_scale=True,
        unit_divisor=1024 if reader.unit == "B" else 1000,
        desc="perturbing",
        file=sys.stderr,
        dynamic_ncols=True,
    )
    try:
        yield _Progress(bar)
    finally:
        bar.close()


def _format_of(path, explicit, option, stream_default):
    """The format given or told by the extension; ``stream_default`` for "-"."""
    fmt = infer_format(path, explicit)
    if fmt is not None:
        return fmt
    if path != "-":
        raise UsageError(
            f"cannot tell the format of {path!r} from its extension; give {option}"
        )
    return stream_default


def _formats(args):
    input_format = _format_of(args.input, args.input_format, "--input-format", "csv")
    output_format = _format_of(
        args.output, args.output_format, "--output-format", input_format
    )
    for path, fmt, role in (
        (args.input, input_format, "read from standard input"),
        (args.output, output_format, "written to standard output"),
    ):
        if path == "-" and fmt == "parquet":
            raise UsageError(
                f"Parquet cannot be {role}; give a file name (or another "
                "--input-format / --output-format)"
            )
    return input_format, output_format


def _perturb_command(args):
    epsilon = _privacy_number(args.epsilon, "--epsilon")
    budget = (
        None
        if args.max_document_epsilon is None
        else _privacy_number(args.max_document_epsilon, "--max-document-epsilon")
    )
    input_format, output_format = _formats(args)
    check_output_path(args.output, overwrite=args.overwrite, input_path=args.input)
    if args.seed is not None:
        logger.warning(_SEED_WARNING)
    with open_reader(
        args.input,
        input_format,
        args.column,
        chunk_size=args.chunk_size,
        encoding=args.encoding,
    ) as reader:
        substituter = _fit(
            make_substituter(
                args.mechanism,
                epsilon,
                embeddings=_load_embeddings(args.embeddings),
                unknown_words=args.unknown_words,
                placeholder=args.placeholder,
                keep_words=_keep_words(args.keep_words),
                max_document_epsilon=budget,
                budget_action=args.budget_action,
                n_jobs=args.n_jobs,
                random_state=args.seed,
            )
        )
        logger.info("fitted %r", substituter)
        summary = _PrivacySummary(substituter, args.mechanism)
        chunk_seed = _perturbation_seeds(args.seed)
        with (
            atomic_output(
                args.output, overwrite=args.overwrite, input_path=args.input
            ) as stream,
            open_writer(output_format, stream, args.output, reader) as writer,
            _progress_bar(reader, quiet=args.quiet, force=args.progress) as bar,
        ):
            for index, chunk in enumerate(reader):
                texts = _perturb_chunk(substituter, chunk, chunk_seed(index), summary)
                writer.write(chunk, texts)
                bar.update(reader, summary.rows)
                logger.debug("chunk %d: %d rows", index, len(chunk))
    if not args.quiet:
        print(summary.report(), file=sys.stderr)
    return ExitCode.OK
