"""Fixtures and table helpers of the command-line and table I/O tests.

Most tests call :func:`sklearn_textdp.cli.main` in-process and read ``capsys``;
a few run ``python -m sklearn_textdp`` in a subprocess (entry point, signals).
The substituters use a 2,000-word subset of the bundled embedding written to an
``.npz`` file: fitting on it takes a second, even in a fresh subprocess.
"""

import csv
import gzip
import json
from pathlib import Path

import pytest

from sklearn_textdp.cli import main

DOCS = [
    "The movie was great, and the actors were good.",
    None,
    "A doctor and a nurse met at the hospital.",
    "Prices rose sharply in the city last year.",
    "",
    "She plays music with her friends every week.",
]
# Values pandas would rewrite (leading zeros, trailing zeros, "NA") must survive.
IDS = ["001", "002", "003", "004", "005", "006"]
SCORES = ["1.50", "NA", "-0", "1e3", "", 'x,y "z"']


@pytest.fixture
def run(capsys, emb2k):
    """``run(*argv)`` -> (exit code, stdout, stderr), on the small embedding."""

    def run(*argv, embeddings=True):
        argv = [str(a) for a in argv]
        if embeddings and {"perturb", "stats"} & set(argv[:2]):
            argv += ["--embeddings", emb2k]
        code = main(argv)
        out, err = capsys.readouterr()
        return code, out, err

    return run


# ---------------------------------------------------------------- table helpers
def write_csv(path, header, rows, delimiter=","):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh, delimiter=delimiter)
        writer.writerow(header)
        writer.writerows(rows)


def read_csv(path, delimiter=","):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", newline="", encoding="utf-8") as fh:
        rows = list(csv.reader(fh, delimiter=delimiter, strict=True))
    return rows[0], rows[1:]


def write_jsonl(path, records):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8") as fh:
        for record in records:
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def read_jsonl(path):
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rt", encoding="utf-8") as fh:
        return [json.loads(line) for line in fh]


def csv_input(tmp_path, name="in.csv", delimiter=","):
    path = tmp_path / name
    rows = [
        [i, "" if d is None else d, s]
        for i, d, s in zip(IDS, DOCS, SCORES, strict=True)
    ]
    write_csv(path, ["id", "text", "score"], rows, delimiter)
    return path


def temporary_files(directory):
    return [p.name for p in Path(directory).iterdir() if "textdp-tmp" in p.name]
