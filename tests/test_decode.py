"""Exact decoding equals float64 brute force, token for token."""

import numpy as np
import pytest

from sklearn_textdp import build_neighbor_graph, load_embeddings
from sklearn_textdp.mechanisms import (
    ExactDecoder,
    brute_force_nearest,
    sample_laplace_noise,
)


@pytest.fixture(scope="module")
def glove20k():
    emb = load_embeddings()
    return emb, build_neighbor_graph(emb.vectors, 64, algorithm="exact")


@pytest.mark.parametrize("eps", [5.0, 10.0, 20.0, 40.0])
def test_exact_decoding_equals_brute_force(glove20k, eps, seed):
    emb, graph = glove20k
    rng = np.random.default_rng([seed, int(eps)])
    ids = rng.integers(0, len(emb), size=300)
    noisy = emb.vectors[ids].astype(np.float64) + sample_laplace_noise(
        300, emb.dim, eps, rng
    )
    reference = brute_force_nearest(noisy, emb.vectors)[:, 0]
    with_graph, proven = ExactDecoder(emb.vectors, graph).nearest(noisy, ids)
    without_graph, none_proven = ExactDecoder(emb.vectors).nearest(noisy, ids)
    np.testing.assert_array_equal(with_graph[:, 0], reference)
    np.testing.assert_array_equal(without_graph[:, 0], reference)
    assert not none_proven.any()
    if eps >= 40:
        assert proven.mean() > 0.5, "the short-list proof should settle most tokens"


def test_two_nearest_excluding_the_source_equal_brute_force(glove20k, seed):
    emb, graph = glove20k
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, len(emb), size=200)
    noisy = emb.vectors[ids].astype(np.float64) + sample_laplace_noise(
        200, emb.dim, 30.0, rng
    )
    reference = brute_force_nearest(noisy, emb.vectors, k=2, exclude=ids)
    for decoder in (ExactDecoder(emb.vectors, graph), ExactDecoder(emb.vectors)):
        got, _ = decoder.nearest(noisy, ids, k=2, exclude_source=True)
        np.testing.assert_array_equal(got, reference)
        assert (got != ids[:, None]).all()


def test_ties_go_to_the_lowest_row_like_brute_force():
    vectors = np.array(
        [[1.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0], [1.0, 0.0]], dtype=np.float32
    )
    noisy = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, 0.5]])
    reference = brute_force_nearest(noisy, vectors)[:, 0]
    got, _ = ExactDecoder(vectors).nearest(noisy)
    np.testing.assert_array_equal(got[:, 0], reference)
    assert reference.tolist() == [0, 0, 0]


def test_near_ties_below_float32_resolution_are_settled_in_float64():
    rng = np.random.default_rng(0)
    base = rng.normal(size=(50, 8)).astype(np.float32)
    # Two words 1e-7 apart in the direction of the query: float32 scores tie.
    base[1] = base[0] + np.float32(1e-7)
    noisy = np.repeat(base[:1].astype(np.float64) + 1e-3, 5, axis=0)
    noisy += rng.normal(scale=1e-9, size=noisy.shape)
    reference = brute_force_nearest(noisy, base)[:, 0]
    got, _ = ExactDecoder(base).nearest(noisy)
    np.testing.assert_array_equal(got[:, 0], reference)


def test_short_list_proof_is_only_used_with_an_exact_graph(glove2k):
    approx_like = build_neighbor_graph(glove2k.vectors, 8, algorithm="exact")
    object.__setattr__(approx_like, "exact", False)
    assert ExactDecoder(glove2k.vectors, approx_like).graph is None


def test_threads_do_not_change_the_output(glove20k, seed, monkeypatch):
    from sklearn_textdp.mechanisms import _decode

    emb, graph = glove20k
    monkeypatch.setattr(_decode, "_QUERY_BLOCK", 64)  # 64-row chunks
    rng = np.random.default_rng(seed)
    ids = rng.integers(0, len(emb), size=700)
    noisy = emb.vectors[ids].astype(np.float64) + sample_laplace_noise(
        700, emb.dim, 8.0, rng
    )
    one, _ = ExactDecoder(emb.vectors, graph).nearest(noisy, ids, k=2)
    for n_jobs in (2, 3, -1):
        many, _ = ExactDecoder(emb.vectors, graph, n_jobs=n_jobs).nearest(
            noisy, ids, k=2
        )
        np.testing.assert_array_equal(many, one)
    np.testing.assert_array_equal(one, brute_force_nearest(noisy, emb.vectors, k=2))


def test_single_threaded_blas_is_restored_after_concurrent_callers():
    from concurrent.futures import ThreadPoolExecutor

    from threadpoolctl import threadpool_info

    from sklearn_textdp.mechanisms._decode import single_threaded_blas

    def blas_threads():
        return [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]

    before = blas_threads()
    with single_threaded_blas():
        assert set(blas_threads()) == {1}
    matrix = np.ones((200, 200))

    def work(_):
        with single_threaded_blas():
            return float((matrix @ matrix)[0, 0])

    with ThreadPoolExecutor(4) as pool:
        assert set(pool.map(work, range(16))) == {200.0}
    assert blas_threads() == before


@pytest.mark.parametrize("k", [1, 9])
def test_exact_ties_in_and_beyond_the_kept_lists_equal_brute_force(k):
    # The search keeps k + 9 scores per row. A group of 4 copies of a vector ties
    # within the kept lists (re-ranked in float64 among them); a group of 30
    # copies does not fit (settled by a second pass over the vocabulary). The
    # copies sit in different tiles of 4,096 words, so the merge across tiles
    # decides ties too: lowest row first, as brute force.
    rng = np.random.default_rng(3)
    vectors = rng.normal(size=(9000, 6)).astype(np.float32)
    small = [17, 4100, 4200, 8999]
    large = rng.choice(np.arange(100, 9000), size=30, replace=False)
    vectors[small] = vectors[small[0]]
    vectors[large] = vectors[large[0]]
    noisy = np.vstack(
        [
            vectors[[small[0], large[0]]].astype(np.float64),
            vectors[[small[0], large[0]]] + rng.normal(scale=1e-3, size=(2, 6)),
            rng.normal(size=(40, 6)),
        ]
    )
    reference = brute_force_nearest(noisy, vectors, k=k)
    got, _ = ExactDecoder(vectors).nearest(noisy, k=k)
    np.testing.assert_array_equal(got, reference)
    assert got[0, 0] == min(small) and got[1, 0] == large.min()


def test_nearest_words_of_the_vocabulary_itself_equal_brute_force(glove20k):
    # The exact neighbour graph's query: the vocabulary's own vectors, k = 9.
    emb, _ = glove20k
    rows = np.random.default_rng(5).choice(len(emb), size=300, replace=False)
    queries = emb.vectors[rows].astype(np.float64)
    got, _ = ExactDecoder(emb.vectors).nearest(queries, k=9)
    np.testing.assert_array_equal(got, brute_force_nearest(queries, emb.vectors, k=9))
