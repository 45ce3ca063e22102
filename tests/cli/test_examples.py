"""Every ``textdp`` command shown to users runs: help texts, README, docs, examples.

The commands are parsed out of the files at collection time, so an example that
is edited, added or broken is tested as it is written. Each runs in-process in an
empty folder where its input files are made up (a few rows with the column it
names); options that only make it quicker (a 2,000-word embedding, fewer draws,
fewer messages) are appended after the example's own, so the example's options
are all parsed, in its own order.

What is not run: mentions of a command by name inside prose (``textdp stats``),
and lines shown as error messages (``textdp perturb: error: ...``).
"""

import contextlib
import gzip
import io
import json
import re
import shlex
import sys
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import sklearn_textdp.cli
from sklearn_textdp._io import infer_format
from sklearn_textdp.cli import ExitCode, get_parser, main

REPO = Path(__file__).resolve().parents[2]
COMMANDS = ("perturb", "stats", "demo")
#: Placeholders of synopses (``textdp perturb INPUT -e EPSILON -o OUTPUT``).
PLACEHOLDERS = {
    "INPUT": ["reviews.csv"],
    "OUTPUT": ["reviews.private.csv"],
    "EPSILON": ["8"],
    "WORD...": ["movie", "doctor"],
}
TEXTS = [
    "The movie was great, and the actors were good.",
    "A doctor and a nurse met at the hospital.",
    "",
    "She plays music with her friends every week.",
]


@dataclass
class Example:
    where: str  # file:line
    text: str  # the command as written
    argv: list  # arguments after "textdp"
    stdin: str = None  # file piped in (``zcat FILE | textdp ...``)
    stdout: str = None  # file redirected to (``textdp ... > FILE``)
    mentions: list = field(default_factory=list)


# ---------------------------------------------------------------- extraction
_INLINE = {
    ".md": re.compile(r"`([^`\n]+)`"),
    ".rst": re.compile(r"``(.+?)``", re.DOTALL),
    ".py": re.compile(r"``(.+?)``", re.DOTALL),
    "help": re.compile(r"'([^'\n]+)'"),
}
_SHELL_LINE = re.compile(r"^\s*(?:\$\s+)?(?:textdp\s|\S.*(?:\||&&)\s*textdp\s)")


def _segments(command):
    """``textdp`` invocations of one shell line: (argv, stdin file, stdout file)."""
    lexer = shlex.shlex(command, posix=True, punctuation_chars="|&;<>")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    tokens = list(lexer)
    pieces, current = [], []
    for token in tokens:
        if token in ("|", "&&", ";", "||"):
            pieces.append((current, token))
            current = []
        else:
            current.append(token)
    pieces.append((current, None))
    found = []
    for i, (words, _) in enumerate(pieces):
        if not words or words[0] != "textdp":
            continue
        stdin = stdout = None
        if i and pieces[i - 1][1] == "|":
            producer = pieces[i - 1][0]
            assert producer[0] in ("cat", "zcat") and len(producer) == 2, command
            stdin = producer[1]
        argv = words[1:]
        if ">" in argv:
            at = argv.index(">")
            stdout, argv = argv[at + 1], argv[:at]
        found.append((argv, stdin, stdout))
    return found


def _is_mention(argv, inline):
    """A command named in prose, or an error message: not something to run."""
    if not argv or "..." in argv or argv[0].endswith(":"):
        return True
    if argv[0] not in COMMANDS and argv[0] not in ("--help", "--version"):
        return True  # e.g. "textdp -m" naming an option
    return inline and len(argv) == 1  # "`textdp stats`" in a sentence


def _substitute(argv):
    out = []
    for token in argv:
        if re.fullmatch(r"[A-Z][A-Z_]*(?:\.\.\.)?", token):
            assert token in PLACEHOLDERS, f"unknown placeholder {token}"
            out += PLACEHOLDERS[token]
        else:
            out.append(token)
    return out


def examples_in(text, kind, name):
    """Every ``textdp`` example of ``text`` (kind: ".md", ".rst", ".py", "help")."""
    found = []

    def add(command, line, inline):
        for argv, stdin, stdout in _segments(command):
            if _is_mention(argv, inline):
                continue
            found.append(
                Example(f"{name}:{line}", command, _substitute(argv), stdin, stdout)
            )

    def blank(match):
        line = text.count("\n", 0, match.start()) + 1
        span = " ".join(match.group(1).split())
        if re.match(r"textdp\b", span):
            # Help texts quote what to run ('textdp demo'); prose names commands.
            add(span, line, inline=kind != "help")
        return re.sub(r"[^\n]", " ", match.group(0))

    rest = _INLINE[kind].sub(blank, text)
    for number, line in enumerate(rest.splitlines(), start=1):
        if _SHELL_LINE.match(line):
            add(line.strip().removeprefix("$").strip(), number, inline=False)
    return found


def _help_texts():
    texts = {}
    for argv in (["--help"], *([c, "--help"] for c in COMMANDS)):
        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            main(argv)
        texts["textdp " + " ".join(argv)] = out.getvalue()
    return texts


def all_examples():
    found = []
    files = [
        REPO / "README.md",
        *sorted((REPO / "docs").glob("*.md")),
        *sorted((REPO / "docs").glob("*.rst")),
        *sorted((REPO / "examples").glob("*.py")),
    ]
    for path in files:
        text = path.read_text(encoding="utf-8")
        found += examples_in(text, path.suffix, path.relative_to(REPO).as_posix())
    for name, text in _help_texts().items():
        found += examples_in(text, "help", name)
    found += examples_in(sklearn_textdp.cli.__doc__, ".rst", "sklearn_textdp.cli")
    return found


def distinct(examples):
    """One example per distinct command; ``where`` lists every place it is shown."""
    seen = {}
    for e in examples:
        key = (tuple(e.argv), e.stdin, e.stdout)
        if key in seen:
            seen[key].where += f", {e.where}"
        else:
            seen[key] = Example(e.where, e.text, e.argv, e.stdin, e.stdout)
    return list(seen.values())


ALL_EXAMPLES = all_examples()
EXAMPLES = distinct(ALL_EXAMPLES)


def test_examples_are_found_everywhere_they_are_shown():
    where = {e.where.split(":")[0] for e in ALL_EXAMPLES}
    for source in (
        "README.md",
        "docs/cli.md",
        "docs/getting_started.rst",
        "docs/index.rst",
        "docs/choosing_epsilon.rst",
        "examples/plot_4_privatise_csv.py",
        "textdp perturb --help",
        "textdp stats --help",
        "textdp --help",
        "sklearn_textdp.cli",
    ):
        assert source in where, f"no textdp example found in {source}"
    assert len(ALL_EXAMPLES) >= 18


@pytest.mark.parametrize(
    "text, expected",
    [
        ("textdp stats -e 5 movie", [(["stats", "-e", "5", "movie"], None, None)]),
        (
            "zcat a.jsonl.gz | textdp perturb - -e 8 > out.jsonl  # note",
            [(["perturb", "-", "-e", "8"], "a.jsonl.gz", "out.jsonl")],
        ),
        ("pip install x && textdp demo", [(["demo"], None, None)]),
    ],
)
def test_shell_lines_are_split_into_invocations(text, expected):
    assert _segments(text) == expected


def test_mentions_and_error_lines_are_not_examples():
    text = (
        "Use `textdp stats` and `textdp -m` here.\n"
        "```text\ntextdp perturb: error: x.csv: no column 'body'\n```\n"
        "| `textdp perturb ... \\| head` |\n"
        "`textdp stats -e EPSILON WORD...`\n"
    )
    (example,) = examples_in(text, ".md", "x.md")
    assert example.argv == ["stats", "-e", "8", "movie", "doctor"]


# ---------------------------------------------------------------- running them
def _write_table(path, fmt, column):
    rows = [{"id": f"{i:03d}", column: text} for i, text in enumerate(TEXTS)]
    if fmt == "parquet":
        pa = pytest.importorskip("pyarrow")
        pq = pytest.importorskip("pyarrow.parquet")
        pq.write_table(pa.Table.from_pylist(rows), path)
        return
    if fmt == "jsonl":
        data = "".join(json.dumps(r) + "\n" for r in rows)
    else:
        sep = "\t" if fmt == "tsv" else ","
        data = f"id{sep}{column}\n" + "".join(
            f'{r["id"]}{sep}"{r[column]}"\n' for r in rows
        )
    raw = data.encode()
    Path(path).write_bytes(gzip.compress(raw) if str(path).endswith(".gz") else raw)


def _speed_options(command, emb2k):
    return {
        "perturb": ["--embeddings", emb2k],
        "stats": ["--embeddings", emb2k, "--samples", "20"],
        "demo": ["--max-docs", "90", "--cv", "2", "--epsilons", "3"]
        + ["--n-words", "5", "--samples", "5"],
    }.get(command, [])


@pytest.mark.parametrize(
    "example", EXAMPLES, ids=[e.where.split(", ")[0] for e in EXAMPLES]
)
def test_example_runs(example, tmp_path, monkeypatch, capsys, emb2k):
    monkeypatch.chdir(tmp_path)
    argv = list(example.argv)
    if argv[0] == "perturb" and "--help" not in argv:
        args = get_parser().parse_args(argv)
        fmt = infer_format(args.input, args.input_format) or "csv"
        source = example.stdin if args.input == "-" else args.input
        _write_table(source, fmt, args.column)
    if example.stdin is not None:
        data = Path(example.stdin).read_bytes()
        if example.stdin.endswith(".gz"):
            data = gzip.decompress(data)
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))
    if "--help" not in argv:
        argv += _speed_options(argv[0], emb2k)
    code = main(argv)
    out, err = capsys.readouterr()
    assert code == ExitCode.OK, f"shown in {example.where}: {example.text}\n{err}"
    if example.stdout is not None:
        assert out, f"{example.where}: nothing written to {example.stdout}"
    if argv[0] == "perturb" and "--help" not in argv:
        output = get_parser().parse_args(argv).output
        assert output == "-" or Path(output).stat().st_size > 0
