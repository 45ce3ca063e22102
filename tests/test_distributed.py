"""Distributed execution: Dask DataFrames, Spark's mapInPandas (without Spark), n_jobs.

The Dask tests run on one module-scoped ``LocalCluster`` of two worker processes.
Substituters use a 2,000-word subset of the bundled embedding saved as ``.npz``,
so that workers refit them from the file in about a second.
"""

import pickle

import numpy as np
import pandas as pd
import pytest
from sklearn.exceptions import NotFittedError

from sklearn_textdp import DensityAwareSubstituter, DPWordSubstituter, _distributed
from sklearn_textdp._distributed import perturb_dask, spark_perturber

dask = pytest.importorskip("dask")
dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("distributed")
cloudpickle = pytest.importorskip("cloudpickle")

LONG_DOC = " ".join(["the movie was great and the music was good"] * 4)


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes; closed at the end of the module."""
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        distributed.Client(cluster) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def small_substituter(emb2k):
    """Pickles to a few hundred bytes: name of the embedding file + checksum."""
    return DPWordSubstituter(
        epsilon=5, embeddings=emb2k, store_embeddings_in_pickle=False
    ).fit([])


def frame(n_rows=12):
    texts = [LONG_DOC if i % 4 else None for i in range(n_rows)]
    return pd.DataFrame(
        {
            "id": np.arange(n_rows),
            "text": pd.array(texts, dtype=object),
            "score": np.linspace(0, 1, n_rows),
        }
    )


# ---------------------------------------------------------------- Dask
def test_perturb_dask_on_a_cluster_keeps_rows_columns_and_missing(
    client, small_substituter
):
    data = dd.from_pandas(frame(), npartitions=3)
    out = perturb_dask(small_substituter, data, "text", random_state=0)
    assert isinstance(out, dd.DataFrame)
    assert list(out.columns) == ["id", "text", "score"]
    assert out.dtypes.equals(data.dtypes)
    result = client.compute(out).result()
    expected = data.compute()
    pd.testing.assert_index_equal(result.index, expected.index)
    pd.testing.assert_frame_equal(result[["id", "score"]], expected[["id", "score"]])
    assert result["text"].isna().tolist() == expected["text"].isna().tolist()
    perturbed = result["text"].dropna()
    assert all(
        isinstance(t, str) and len(t.split()) == len(LONG_DOC.split())
        for t in perturbed
    )
    assert (perturbed != LONG_DOC).any()


def test_partitions_draw_independent_noise(client, small_substituter):
    """One copy of the same long document per partition: shared noise would give
    the same output in every partition."""
    data = dd.from_pandas(pd.DataFrame({"text": [LONG_DOC] * 8}), npartitions=8)
    assert data.npartitions == 8
    result = client.compute(
        perturb_dask(small_substituter, data, "text", random_state=1)
    ).result()
    assert result["text"].nunique() == 8


def test_fixed_seed_is_reproducible_whatever_the_scheduler(client, small_substituter):
    data = dd.from_pandas(frame(40), npartitions=5)
    on_cluster = client.compute(
        perturb_dask(small_substituter, data, "text", random_state=3)
    ).result()
    for scheduler in ("sync", "threads"):
        local = perturb_dask(small_substituter, data, "text", random_state=3).compute(
            scheduler=scheduler
        )
        pd.testing.assert_frame_equal(local, on_cluster)
    other = perturb_dask(small_substituter, data, "text", random_state=4).compute(
        scheduler="sync"
    )
    assert not other["text"].equals(on_cluster["text"])


def test_without_seed_each_call_is_a_new_release_and_recomputing_is_not(
    small_substituter,
):
    data = dd.from_pandas(frame(8), npartitions=2)
    first = perturb_dask(small_substituter, data, "text")
    again = first.compute(scheduler="sync")
    pd.testing.assert_frame_equal(first.compute(scheduler="sync"), again)
    second = perturb_dask(small_substituter, data, "text").compute(scheduler="sync")
    assert not second["text"].equals(again["text"])


def test_substituter_random_state_is_the_default_seed(emb2k):
    seeded = DPWordSubstituter(epsilon=5, embeddings=emb2k, random_state=7).fit([])
    data = dd.from_pandas(frame(8), npartitions=2)
    a = perturb_dask(seeded, data, "text").compute(scheduler="sync")
    b = perturb_dask(seeded, data, "text", random_state=7).compute(scheduler="sync")
    pd.testing.assert_frame_equal(a, b)


def test_dask_series(client, small_substituter):
    series = dd.from_pandas(
        pd.Series([LONG_DOC, None, "a film"], name="review", dtype=object),
        npartitions=2,
    )
    out = perturb_dask(small_substituter, series, random_state=0)
    assert isinstance(out, dd.Series) and out.name == "review"
    result = client.compute(out).result()
    assert result.isna().tolist() == [False, True, False]


def graph_size(collection):
    return len(cloudpickle.dumps(dict(collection.__dask_graph__())))


@pytest.mark.parametrize("store_embeddings", [True, False])
def test_task_graph_holds_the_substituter_once(emb2k, store_embeddings):
    sub = DPWordSubstituter(
        epsilon=5, embeddings=emb2k, store_embeddings_in_pickle=store_embeddings
    ).fit([])
    substituter_size = len(pickle.dumps(sub))
    texts = pd.DataFrame({"text": ["a film"] * 40})
    few = perturb_dask(sub, dd.from_pandas(texts, npartitions=2), "text")
    many = perturb_dask(sub, dd.from_pandas(texts, npartitions=40), "text")
    assert many.npartitions == 40
    holders = [
        key
        for key, task in dict(many.__dask_graph__()).items()
        if any(value is sub for value in _literals(task))
    ]
    assert len(holders) == 1, holders
    # 38 more partitions add far less than one more copy of the substituter.
    assert graph_size(many) - graph_size(few) < max(substituter_size, 20_000)
    if store_embeddings:
        assert substituter_size > 1_000_000  # so one copy per task would show
    else:
        assert substituter_size < 5_000  # name + checksum: tiny pickles
        assert graph_size(many) < 200_000


def _literals(task):
    """The Python objects a graph node holds (dask's Task/DataNode or raw values)."""
    for attribute in ("value", "args"):
        value = getattr(task, attribute, None)
        if value is not None:
            yield from (value if attribute == "args" else [value])
    yield task


def test_tiny_pickles_are_refitted_and_verified_on_the_workers(
    client, small_substituter
):
    data = dd.from_pandas(frame(8), npartitions=2)
    out = perturb_dask(small_substituter, data, "text", random_state=0)
    on_cluster = client.compute(out).result()
    pd.testing.assert_frame_equal(on_cluster, out.compute(scheduler="sync"))
    # The workers rebuilt the fitted state (cached vocabulary, graph, ...) from
    # the embedding file, after checking its SHA-256.
    cached = client.run(
        lambda: len(__import__("sklearn_textdp._cache", fromlist=["x"])._entries)
    )
    assert len(cached) == 2 and all(n > 0 for n in cached.values())


def test_perturb_dask_needs_a_fitted_substituter_and_a_valid_column(
    emb2k, small_substituter
):
    data = dd.from_pandas(frame(4), npartitions=1)
    with pytest.raises(NotFittedError):
        perturb_dask(DPWordSubstituter(embeddings=emb2k), data, "text")
    with pytest.raises(ValueError, match="column is required"):
        perturb_dask(small_substituter, data)
    with pytest.raises(ValueError, match="no column 'body'"):
        perturb_dask(small_substituter, data, "body")
    with pytest.raises(TypeError, match="Dask DataFrame or Series"):
        perturb_dask(small_substituter, frame(4), "text")


# ---------------------------------------------------------------- n_jobs
def test_seeded_transform_does_not_depend_on_n_jobs(emb2k):
    docs = [f"{LONG_DOC} {i}" for i in range(5000)]  # three blocks of 2,048
    outputs = [
        DensityAwareSubstituter(
            epsilon=5, embeddings=emb2k, n_jobs=n_jobs, random_state=0
        ).fit_transform(docs)
        for n_jobs in (1, 2)
    ]
    assert outputs[0] == outputs[1]
    assert outputs[0] != docs


# ---------------------------------------------------------------- Spark
def batches(n_batches, rows=3):
    for b in range(n_batches):
        yield pd.DataFrame(
            {
                "id": np.arange(rows) + 10 * b,
                "text": pd.array([LONG_DOC, None, LONG_DOC][:rows], dtype=object),
            }
        )


def run_partition(perturb, partition, monkeypatch, n_batches=2):
    monkeypatch.setattr(_distributed, "_spark_partition_id", lambda: partition)
    return list(perturb(batches(n_batches)))


def test_spark_perturber_keeps_columns_rows_and_missing(small_substituter, monkeypatch):
    perturb = spark_perturber(small_substituter, "text", random_state=0)
    out = run_partition(perturb, 0, monkeypatch)
    for before, after in zip(batches(2), out, strict=True):
        assert list(after.columns) == ["id", "text"]
        pd.testing.assert_series_equal(after["id"], before["id"])
        assert after["text"].isna().tolist() == [False, True, False]


def test_spark_partitions_and_batches_draw_independent_noise(
    small_substituter, monkeypatch
):
    perturb = spark_perturber(small_substituter, "text", random_state=0)
    texts = [
        t
        for partition in (0, 1)
        for batch in run_partition(perturb, partition, monkeypatch)
        for t in batch["text"].dropna()
    ]
    assert len(texts) == 8 and len(set(texts)) == 8


def test_spark_retried_partition_redraws_the_same_noise(small_substituter, monkeypatch):
    perturb = spark_perturber(small_substituter, "text", random_state=0)
    first = run_partition(perturb, 5, monkeypatch)
    retry = run_partition(perturb, 5, monkeypatch)
    for a, b in zip(first, retry, strict=True):
        pd.testing.assert_frame_equal(a, b)
    other_seed = run_partition(
        spark_perturber(small_substituter, "text", random_state=1), 5, monkeypatch
    )
    assert not other_seed[0]["text"].equals(first[0]["text"])


def test_spark_perturber_counts_partitions_outside_spark(small_substituter):
    assert _distributed._spark_partition_id() is None  # pyspark absent or no task
    perturb = spark_perturber(small_substituter, "text", random_state=0)
    first = list(perturb(batches(1)))[0]["text"]
    second = list(perturb(batches(1)))[0]["text"]
    assert not first.equals(second)


def test_spark_perturber_travels_as_a_small_pickle(small_substituter):
    """As Spark ships it: cloudpickled (the substituter is refitted from the file on
    unpickling) and run outside any Spark task (partitions counted from 0)."""
    perturb = spark_perturber(small_substituter, "text", random_state=0)
    payload = cloudpickle.dumps(perturb)
    assert len(payload) < 20_000
    restored = pickle.loads(payload)
    for a, b in zip(restored(batches(2)), perturb(batches(2)), strict=True):
        pd.testing.assert_frame_equal(a, b)


class Broadcast:
    """Stands in for pyspark.broadcast.Broadcast (its ``value``)."""

    __module__ = "pyspark.broadcast"

    def __init__(self, value):
        self.value = value


def test_spark_perturber_accepts_a_broadcast(small_substituter, monkeypatch):
    direct = spark_perturber(small_substituter, "text", random_state=0)
    broadcast = spark_perturber(Broadcast(small_substituter), "text", random_state=0)
    for a, b in zip(
        run_partition(direct, 1, monkeypatch),
        run_partition(broadcast, 1, monkeypatch),
        strict=True,
    ):
        pd.testing.assert_frame_equal(a, b)


def test_spark_perturber_needs_a_fitted_substituter(emb2k):
    with pytest.raises(NotFittedError):
        spark_perturber(DPWordSubstituter(embeddings=emb2k), "text")
