"""Perturbing text at scale: Dask DataFrames and Spark ``mapInPandas``.

Both helpers follow the same rules:

- **The substituter is fitted once, on the driver**, and shipped to the workers
  once: one key of the Dask graph, or the closure (or a broadcast variable) of a
  Spark job. With ``store_embeddings_in_pickle=False`` its pickle holds only the
  embedding's name or path and SHA-256 (a few hundred bytes): each worker reloads
  the public embedding, checks the checksum and rebuilds the fitted state.
- **Every partition draws its own random stream**: partition ``i`` (and, for
  Spark, batch ``j`` of it) gets the :class:`numpy.random.SeedSequence` spawned
  from the run's root seed with key ``i`` (``(i, j)``). No two partitions ever
  share noise, and a fixed ``random_state`` gives the same output whatever the
  scheduler, the number of workers or the order in which partitions run.
- The root seed is drawn when the helper is called: recomputing the same lazy
  Dask object, or retrying a failed Spark task, reproduces the same release
  instead of drawing (and spending epsilon on) a new one.
"""

import itertools

import numpy as np
from sklearn.utils.validation import check_is_fitted

from .utils._random import root_seed_sequence

__all__ = ["perturb_dask", "spark_perturber"]


def _run_seed(substituter, random_state):
    """(entropy, spawn_key) of the run: small, picklable, drawn once."""
    seed = substituter.random_state if random_state is None else random_state
    root = root_seed_sequence(seed)
    return root.entropy, tuple(root.spawn_key)


def _partition_seed(run_seed, *keys):
    entropy, spawn_key = run_seed
    return np.random.SeedSequence(entropy, spawn_key=(*spawn_key, *keys))


# ====================================================================== Dask
def _perturb_partition(part, substituter, column, run_seed, partition_info=None):
    """Perturb one pandas partition (Dask calls this on the workers)."""
    number = 0 if partition_info is None else partition_info["number"]
    seed = _partition_seed(run_seed, number)
    if column is None:
        return substituter._perturb(part, seed)
    out = part.copy(deep=False)  # the other columns are shared, not copied
    out[column] = substituter._perturb(part[column], seed)
    return out


def perturb_dask(substituter, data, column=None, *, random_state=None):
    """Perturb a column of a Dask DataFrame, or a Dask Series, partition by partition.

    Parameters
    ----------
    substituter : DPWordSubstituter or DensityAwareSubstituter
        A **fitted** substituter. It is put in the task graph once (a single key
        every partition depends on), never once per task. Fit it with
        ``store_embeddings_in_pickle=False`` to keep the embedding matrix out of
        the graph too.
    data : dask.dataframe.DataFrame or dask.dataframe.Series
        Documents (str or missing). Missing values stay missing.
    column : str, default=None
        The text column of a DataFrame (required for a DataFrame, None for a
        Series). The other columns are passed through untouched.
    random_state : None, int, Generator or RandomState, default=None
        Seed of the run; None uses the substituter's ``random_state`` (by
        default None too: fresh operating-system entropy, drawn now). Partition
        ``i`` draws from the ``SeedSequence`` spawned with key ``i``, so a fixed
        seed gives the same output whatever the scheduler. A known seed voids
        the privacy guarantee: use one for tests only.

    Returns
    -------
    perturbed : dask.dataframe.DataFrame or dask.dataframe.Series
        Lazy, with the same partitions, index, columns and dtypes as ``data``.
        Computing it twice gives the same release (the root seed is drawn when
        this function is called); call ``perturb_dask`` again for a new one,
        which spends epsilon again.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the substituter is not fitted.

    See Also
    --------
    spark_perturber : The same for Spark's ``DataFrame.mapInPandas``.

    Notes
    -----
    Each partition is perturbed with ``substituter._perturb``, exactly as
    ``transform`` would, with its own random stream; the privacy cost per
    document is the one :meth:`~DPWordSubstituter.privacy_cost` reports.

    Examples
    --------
    >>> import dask.dataframe as dd
    >>> import pandas as pd
    >>> from sklearn_textdp import DensityAwareSubstituter
    >>> from sklearn_textdp._distributed import perturb_dask
    >>> frame = pd.DataFrame({"id": [1, 2, 3], "text": ["a good film", None, "bad"]})
    >>> data = dd.from_pandas(frame, npartitions=2)
    >>> sub = DensityAwareSubstituter(epsilon=40, store_embeddings_in_pickle=False)
    >>> out = perturb_dask(sub.fit([]), data, "text", random_state=0)
    >>> out.compute()
       id         text
    0   1  a good film
    1   2         <NA>
    2   3          bad
    """
    import dask
    import dask.dataframe as dd

    check_is_fitted(substituter, "mechanism_")
    if isinstance(data, dd.DataFrame):
        if column is None:
            raise ValueError(
                "column is required for a Dask DataFrame: the name of the text column."
            )
        if column not in data.columns:
            raise ValueError(
                f"data has no column {column!r}; its columns are {list(data.columns)}."
            )
    elif isinstance(data, dd.Series):
        if column is not None:
            raise ValueError("column must be None for a Dask Series.")
    else:
        raise TypeError(
            f"data must be a Dask DataFrame or Series; got {type(data).__name__}."
        )
    # One graph key holds the substituter; every partition task depends on it.
    shipped = dask.delayed(substituter, pure=True)
    return data.map_partitions(
        _perturb_partition,
        shipped,
        column,
        _run_seed(substituter, random_state),
        meta=data._meta,
        enforce_metadata=False,
    )


# ====================================================================== Spark
def _spark_partition_id():
    """The id of the Spark partition being processed, or None outside Spark."""
    try:
        from pyspark import TaskContext
    except ImportError:
        return None
    context = TaskContext.get()
    return None if context is None else context.partitionId()


def _value(substituter):
    """The substituter, or the value of a pyspark Broadcast holding one."""
    if type(substituter).__module__.startswith("pyspark") and hasattr(
        substituter, "value"
    ):
        return substituter.value
    return substituter


def spark_perturber(substituter, column, *, random_state=None):
    """A function for Spark's ``DataFrame.mapInPandas`` that perturbs one column.

    Parameters
    ----------
    substituter : DPWordSubstituter, DensityAwareSubstituter or pyspark Broadcast
        A **fitted** substituter, or a ``SparkContext.broadcast`` of one. Fit it
        with ``store_embeddings_in_pickle=False``: its pickle is then a few hundred
        bytes (the embedding's name or path and SHA-256), and each executor
        reloads the public embedding and checks it.
    column : str
        The text column; the other columns are passed through untouched.
    random_state : None, int, Generator or RandomState, default=None
        Seed of the run; None uses the substituter's ``random_state`` (by
        default None too: fresh operating-system entropy, drawn now, once).
        A known seed voids the privacy guarantee: use one for tests only.

    Returns
    -------
    perturb : callable
        ``perturb(batches)`` takes an iterator of pandas DataFrames (the Arrow
        batches of one partition) and yields them with ``column`` perturbed.
        Batch ``j`` of partition ``i`` (``TaskContext.partitionId()``; outside
        Spark, ``i`` counts the calls of ``perturb``) draws from the
        ``SeedSequence`` spawned with key ``(i, j)``.

    Raises
    ------
    sklearn.exceptions.NotFittedError
        If the substituter is not fitted.

    See Also
    --------
    perturb_dask : The same for Dask DataFrames.

    Notes
    -----
    Use one perturber per release: two jobs run with the same perturber draw the
    same noise for their partition ``i``, which is harmless for the same data
    (the same release) but correlates the noise of different data. A retried
    Spark task redraws exactly the same noise, so retries do not spend epsilon.

    Examples
    --------
    >>> import pandas as pd
    >>> from sklearn_textdp import DPWordSubstituter
    >>> from sklearn_textdp._distributed import spark_perturber
    >>> sub = DPWordSubstituter(epsilon=50, store_embeddings_in_pickle=False).fit([])
    >>> perturb = spark_perturber(sub, "text", random_state=0)
    >>> batch = pd.DataFrame({"id": [1, 2], "text": ["the movie", None]})
    >>> (out,) = perturb(iter([batch]))
    >>> out["id"].tolist(), out["text"].iloc[0], out["text"].isna().tolist()
    ([1, 2], 'the movie', [False, True])

    With Spark (see the user guide for the whole recipe)::

        df.mapInPandas(perturb, schema=df.schema)
    """
    check_is_fitted(_value(substituter), "mechanism_")
    run_seed = _run_seed(_value(substituter), random_state)
    calls = itertools.count()  # partition numbers outside Spark

    def perturb(batches):
        fitted = _value(substituter)
        partition = _spark_partition_id()
        if partition is None:
            partition = next(calls)
        for number, batch in enumerate(batches):
            out = batch.copy(deep=False)
            out[column] = fitted._perturb(
                batch[column], _partition_seed(run_seed, partition, number)
            )
            yield out

    return perturb
