"""Shared option values (``cli/_parsing.py``):
epsilon, encoding, embeddings, keep-words.
"""

import pytest

from sklearn_textdp.cli import MECHANISMS, ExitCode, make_substituter
from tests.cli_support import (
    csv_input,
)


def test_unknown_encoding_is_a_usage_error(run, tmp_path):
    code, _, err = run("perturb", csv_input(tmp_path), "-e", "1", "--encoding", "nope")
    assert code == ExitCode.USAGE and "unknown encoding" in err


def test_unreadable_embeddings_and_keep_words_are_input_errors(run, tmp_path):
    source = csv_input(tmp_path)
    code, _, err = run(
        "perturb",
        source,
        "-e",
        "1",
        "--embeddings",
        tmp_path / "absent.vec",
        embeddings=False,
    )
    assert code == ExitCode.INPUT and "cannot load embeddings" in err
    code, _, err = run(
        "perturb", source, "-e", "1", "--keep-words", tmp_path / "no.txt"
    )
    assert code == ExitCode.INPUT and "--keep-words" in err


@pytest.mark.parametrize("epsilon", ["0", "-1", "nan", "inf", "abc"])
def test_bad_epsilon_is_a_privacy_parameter_error(run, tmp_path, epsilon):
    code, _, err = run(
        "perturb", csv_input(tmp_path), "-o", tmp_path / "o.csv", f"--epsilon={epsilon}"
    )
    assert code == ExitCode.PRIVACY
    assert "--epsilon must be" in err
    assert not (tmp_path / "o.csv").exists()


def test_mechanism_refusing_epsilon_is_a_privacy_parameter_error(run, tmp_path):
    code, _, err = run(
        "perturb", csv_input(tmp_path), "-e", "1", "-m", "truncated-gumbel"
    )
    assert code == ExitCode.PRIVACY
    assert "epsilon" in err


@pytest.mark.parametrize("name", sorted(MECHANISMS))
def test_every_mechanism_name_fits(name, emb2k):
    """Each --mechanism maps to parameters the substituters accept (the truncated
    Gumbel broke when DensityAwareSubstituter's default truncation changed)."""
    import warnings

    from sklearn_textdp import PrivacyLeakWarning

    substituter = make_substituter(name, 500.0, embeddings=emb2k, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)  # epsilon 500 is large
        substituter.fit([])
    assert len(substituter.transform(["the movie was great"])) == 1
