"""One fitted estimator used from several threads at once.

A fitted substituter holds only read-only public state; all noise comes from a
generator built per call (and per block) from ``random_state``. So concurrent
``transform`` calls must give valid outputs, seeded calls must give exactly the
single-threaded result, and a shared ``numpy.random.Generator`` must hand each
call its own stream.
"""

import copy
import pickle
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pandas as pd
import pytest

from sklearn_textdp import (
    DensityAwareSubstituter,
    DPWordSubstituter,
    Embeddings,
    PrivacyLeakWarning,
    load_embeddings,
)
from sklearn_textdp._text import normalize_words, tokenize

N_THREADS = 8
ROUNDS = 3


@pytest.fixture(scope="module")
def vocabulary():
    return load_embeddings(max_words=400)


def documents(vocabulary, n_docs, seed):
    """Documents of 1-12 vocabulary words (mixed case), a missing value, an
    unknown word and punctuation."""
    rng = np.random.default_rng(seed)
    words = vocabulary.words
    docs = []
    for i in range(n_docs):
        chosen = words[rng.integers(0, len(words), size=rng.integers(1, 13))].tolist()
        if i % 3 == 0:
            chosen[0] = chosen[0].title()
        docs.append(" ".join(chosen) + ("!" if i % 2 else ", zqunknown."))
    docs[1] = None
    return docs


def assert_valid(sub, before, after):
    """One output per input; missing stays missing; the same punctuation; every
    word a vocabulary word or the placeholder."""
    assert len(after) == len(before)
    allowed = set(sub.embeddings_.words.tolist()) | {"unk"}
    for b, a in zip(before, after, strict=False):
        if b is None:
            assert a is None
            continue
        assert isinstance(a, str)
        assert len(tokenize([a]).words) == len(tokenize([b]).words)
        assert a[-1] == b[-1]
        assert set(normalize_words(tokenize([a]).words).tolist()) <= allowed


def run_concurrently(function, inputs):
    """``function(x)`` for every input, all threads released at once by a barrier."""
    barrier = threading.Barrier(len(inputs))

    def task(x):
        barrier.wait()
        return function(x)

    with ThreadPoolExecutor(max_workers=len(inputs)) as pool:
        return list(pool.map(task, inputs))


SUBSTITUTERS = {
    "laplace": lambda emb, rs: DPWordSubstituter(
        epsilon=8.0, embeddings=emb, random_state=rs
    ),
    "vickrey-mahalanobis": lambda emb, rs: DPWordSubstituter(
        epsilon=8.0, mechanism="vickrey-mahalanobis", embeddings=emb, random_state=rs
    ),
    "knn": lambda emb, rs: DensityAwareSubstituter(
        epsilon=3.0, embeddings=emb, max_neighbors=16, random_state=rs
    ),
    "full": lambda emb, rs: DensityAwareSubstituter(
        epsilon=3.0, embeddings=emb, truncation=None, max_neighbors=16, random_state=rs
    ),
    "metropolis": lambda emb, rs: DensityAwareSubstituter(
        epsilon=3.0,
        embeddings=emb,
        truncation=None,
        sampler="metropolis",
        mh_steps=10,
        max_neighbors=16,
        random_state=rs,
    ),
    "gumbel": lambda emb, rs: DensityAwareSubstituter(
        epsilon=60.0,
        embeddings=emb,
        truncation="knn",
        selection="gumbel",
        prior=None,
        max_neighbors=16,
        random_state=rs,
    ),
}


def fitted(name, vocabulary, random_state):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PrivacyLeakWarning)
        return SUBSTITUTERS[name](vocabulary, random_state).fit([])


@pytest.mark.parametrize("name", list(SUBSTITUTERS))
def test_seeded_threads_reproduce_the_single_threaded_result(vocabulary, name):
    """Each thread perturbs its own documents with one shared fitted estimator and
    an int seed: the result equals the single-threaded one, call for call."""
    sub = fitted(name, vocabulary, random_state=42)
    inputs = [documents(vocabulary, 60, seed) for seed in range(N_THREADS)]
    expected = [sub.transform(docs) for docs in inputs]
    for _ in range(ROUNDS):
        got = run_concurrently(sub.transform, inputs)
        assert got == expected
    for docs, out in zip(inputs, expected, strict=False):
        assert_valid(sub, docs, out)
    # The check has power: another seed gives other outputs.
    other = fitted(name, vocabulary, random_state=43).transform(inputs[0])
    assert other != expected[0]


def test_threads_mixing_transform_privacy_cost_and_pickling(vocabulary):
    sub = fitted("knn", vocabulary, random_state=7)
    docs = documents(vocabulary, 80, 0)
    series = pd.Series(docs, index=[f"d{i}" for i in range(80)], dtype=object)
    expected = {
        "transform": sub.transform(series),
        "cost": sub.privacy_cost(series),
        "pickle": pickle.loads(pickle.dumps(sub)).transform(series),
    }

    def work(kind):
        if kind == "transform":
            return sub.transform(series)
        if kind == "cost":
            return sub.privacy_cost(series)
        return pickle.loads(pickle.dumps(sub)).transform(series)

    kinds = ["transform", "cost", "pickle"] * 3
    for kind, result in zip(kinds, run_concurrently(work, kinds), strict=False):
        if kind == "cost":
            pd.testing.assert_frame_equal(result, expected["cost"])
        else:
            pd.testing.assert_series_equal(result, expected[kind])
    assert expected["pickle"].equals(expected["transform"])


@pytest.mark.parametrize("name", ["laplace", "knn"])
def test_a_shared_generator_gives_each_call_its_own_stream(vocabulary, name):
    """random_state=Generator: many threads draw their seeds from it at once. The
    outputs are valid and independent (no two threads got the same stream), and the
    generator still works."""
    generator = np.random.default_rng(2024)
    sub = fitted(name, vocabulary, random_state=generator)
    docs = documents(vocabulary, 40, 5)
    outputs = run_concurrently(lambda _: sub.transform(docs), list(range(N_THREADS)))
    for out in outputs:
        assert_valid(sub, docs, out)
    assert len({tuple(out) for out in outputs}) == N_THREADS
    # The generator advanced once per call (4 draws of 63 bits each) and is intact.
    reference = np.random.default_rng(2024)
    reference.integers(0, 2**63, size=4 * N_THREADS)
    assert generator.integers(0, 2**63) == reference.integers(0, 2**63)


@pytest.mark.filterwarnings("ignore:This substituter has perturbed text more than once")
def test_unseeded_threads_draw_fresh_noise(vocabulary):
    sub = fitted("laplace", vocabulary, random_state=None)
    docs = documents(vocabulary, 40, 6)
    outputs = run_concurrently(lambda _: sub.transform(docs), list(range(N_THREADS)))
    for out in outputs:
        assert_valid(sub, docs, out)
    assert len({tuple(out) for out in outputs}) == N_THREADS


def test_inner_joblib_threads_inside_outer_threads(vocabulary):
    """n_jobs=2 (joblib threads over blocks) called from several threads at once:
    the seeded output still equals the sequential one."""
    sub = DensityAwareSubstituter(
        epsilon=3.0, embeddings=vocabulary, max_neighbors=16, n_jobs=2, random_state=3
    ).fit([])
    docs = documents(vocabulary, 4200, 7)  # three blocks of 2,048 documents
    expected = copy.deepcopy(sub).set_params(n_jobs=1).transform(docs)
    for out in run_concurrently(lambda _: sub.transform(docs), list(range(4))):
        assert out == expected


def test_concurrent_fits_share_the_public_cache_safely():
    """Fresh estimators fitted at once on a new embedding (empty caches, lazily
    built lookup index) all end up with the same mechanism."""
    rng = np.random.default_rng(9)
    emb = Embeddings(
        [f"w{chr(97 + i // 26)}{chr(97 + i % 26)}" for i in range(300)],
        rng.normal(size=(300, 8)),
    )

    def fit_and_use(seed):
        sub = DensityAwareSubstituter(
            epsilon=2.0, embeddings=emb, max_neighbors=12, random_state=0
        ).fit([])
        return sub.transform(
            ["waa wab zzz wkz", "wba"]
        ), sub.mechanism_.output_distribution(5)

    results = run_concurrently(fit_and_use, list(range(N_THREADS)))
    first_out, (rows, probs, rest) = results[0]
    for out, (r, p, s) in results[1:]:
        assert out == first_out
        np.testing.assert_array_equal(r, rows)
        np.testing.assert_array_equal(p, probs)
        assert s == rest


# ------------------------------------------------------------------ disk cache
@pytest.fixture
def disk_cache(tmp_path):
    """The disk cache in a fresh folder, the memory cache empty; restored after."""
    from sklearn_textdp import _cache

    _cache.set_disk_cache(True, directory=tmp_path)
    _cache.clear_cache()
    yield tmp_path
    _cache.set_disk_cache(None)
    _cache.clear_cache()


def test_the_disk_cache_returns_any_picklable_value_without_recomputing(disk_cache):
    import scipy.sparse as sp

    from sklearn_textdp import _cache, build_neighbor_graph

    graph = build_neighbor_graph(np.arange(12.0).reshape(6, 2), 2)
    values = {
        ("array", "f" * 64, 3): np.arange(10.0),
        ("graph", "f" * 64, 2, "exact"): graph,
        ("sparse", "f" * 64, 0.5, None): sp.random(20, 20, density=0.2, format="csr"),
    }
    for key, value in values.items():
        assert _cache.cached(key, lambda value=value: value) is value
    assert len(list(disk_cache.glob("*.pkl"))) == 3
    assert not list(disk_cache.glob("*.tmp"))
    _cache.clear_cache()  # memory only: a new process, as far as the cache knows

    def fail():
        raise AssertionError("recomputed although on disk")

    np.testing.assert_array_equal(
        _cache.cached(("array", "f" * 64, 3), fail), values[("array", "f" * 64, 3)]
    )
    loaded = _cache.cached(("graph", "f" * 64, 2, "exact"), fail)
    np.testing.assert_array_equal(loaded.indices, graph.indices)
    assert (loaded.exact, loaded.max_distance) == (graph.exact, graph.max_distance)
    sparse = _cache.cached(("sparse", "f" * 64, 0.5, None), fail)
    assert (sparse != values[("sparse", "f" * 64, 0.5, None)]).nnz == 0


def test_the_disk_cache_ignores_files_of_another_key_or_damaged(disk_cache):
    from sklearn_textdp import _cache

    key, other = ("prior", "a" * 64, 1.0), ("prior", "b" * 64, 1.0)
    _cache.cached(key, lambda: np.ones(4))
    _cache.clear_cache()
    # a file moved under another key's name (another embedding's fingerprint)
    _cache._path_for(key).replace(_cache._path_for(other))
    assert _cache.cached(other, lambda: np.zeros(4)).sum() == 0
    _cache.clear_cache()
    # a truncated file
    path = _cache._path_for(other)
    path.write_bytes(path.read_bytes()[:-10])
    assert _cache.cached(other, lambda: np.full(4, 2.0)).sum() == 8
    _cache.clear_cache()
    assert _cache.cached(other, lambda: None).sum() == 8  # rewritten whole


def test_the_disk_cache_can_be_turned_off(tmp_path, monkeypatch):
    from sklearn_textdp import _cache

    monkeypatch.setenv("SKLEARN_TEXTDP_CACHE_DIR", str(tmp_path))
    monkeypatch.setenv("SKLEARN_TEXTDP_DISK_CACHE", "0")
    _cache.set_disk_cache(None)
    assert not _cache.disk_cache_enabled()
    assert _cache.cache_directory() == tmp_path
    _cache.cached(("x", "c" * 64), lambda: 1)
    monkeypatch.setenv("SKLEARN_TEXTDP_DISK_CACHE", "1")
    _cache.set_disk_cache(False)
    _cache.cached(("y", "c" * 64), lambda: 1)
    _cache.set_disk_cache(None)
    _cache.clear_cache()
    assert not list(tmp_path.iterdir())
    # vocabularies (they hold the words) never go to disk
    _cache.cached(("vocabulary", "c" * 64), lambda: 1)
    assert not list(tmp_path.iterdir())
    _cache.cached(("z", "c" * 64), lambda: 1)
    assert len(list(tmp_path.iterdir())) == 1
    _cache.clear_cache(disk=True)
    assert not list(tmp_path.iterdir())


_FIT_IN_A_NEW_PROCESS = """
import sys, warnings
import numpy as np
warnings.simplefilter("ignore")
from sklearn_textdp import DPWordSubstituter, load_embeddings, _fitting
if sys.argv[1] == "must-load":
    def fail(*args, **kwargs):
        raise AssertionError("built again although cached on disk")
    _fitting.build_neighbor_graph = _fitting.vocabulary_diameter = fail
sub = DPWordSubstituter(8.0, embeddings=load_embeddings(max_words=2000)).fit([])
print(sub.vocabulary_diameter_, int(np.asarray(sub.graph_.indices).sum()))
"""


def test_processes_fitting_at_once_share_the_disk_cache(tmp_path):
    """Two processes fit at once on an empty cache (both build and write: the
    atomic replace keeps one whole file); a third loads everything from disk."""
    import os
    import subprocess
    import sys

    env = {**os.environ, "SKLEARN_TEXTDP_CACHE_DIR": str(tmp_path)}
    env.pop("SKLEARN_TEXTDP_DISK_CACHE", None)
    command = [sys.executable, "-c", _FIT_IN_A_NEW_PROCESS]
    racing = [
        subprocess.Popen(
            [*command, "build"], env=env, stdout=subprocess.PIPE, text=True
        )
        for _ in range(2)
    ]
    outputs = [p.communicate(timeout=300)[0] for p in racing]
    assert all(p.returncode == 0 for p in racing)
    assert outputs[0] == outputs[1]
    assert list(tmp_path.glob("*.pkl")) and not list(tmp_path.glob("*.tmp"))
    third = subprocess.run(
        [*command, "must-load"], env=env, capture_output=True, text=True, timeout=300
    )
    assert third.returncode == 0, third.stderr
    assert third.stdout == outputs[0]
