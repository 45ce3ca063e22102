"""Perturbing a column of a Hugging Face ``datasets.Dataset`` with ``.map``.

The same rules as the Dask and Spark helpers (:mod:`sklearn_textdp._distributed`):
the substituter is fitted once, before ``map``, and shipped once per worker
process (``num_proc``) inside one picklable callable; every batch draws its own
random stream, spawned from the run's root seed with the global index of the
batch's first row as key, so no two batches share noise and a fixed seed gives
the same release for the same ``batch_size`` and ``num_proc``.
"""

from sklearn.utils.validation import check_is_fitted

from ._distributed import _partition_seed, _run_seed

__all__ = ["HuggingFacePerturber", "perturb_hf_dataset"]


class HuggingFacePerturber:
    """A function for ``datasets.Dataset.map(batched=True, with_indices=True)``.

    Parameters
    ----------
    substituter : DPWordSubstituter or DensityAwareSubstituter
        A **fitted** substituter. Fit it with ``store_embeddings_in_pickle=False``
        to ship only the embedding's name and SHA-256 to the worker processes
        (each reloads the public embedding, checks it, and rebuilds the fitted
        state from the disk cache of fitted artefacts).
    column : str
        The text column (str or None values).
    output_column : str, default=None
        Where the perturbed texts go; None replaces ``column``.
    random_state : None, int, Generator or RandomState, default=None
        Seed of the run; None uses the substituter's ``random_state`` (by default
        None too: fresh operating-system entropy, drawn now, once). A known seed
        voids the privacy guarantee: use one for tests only.

    Notes
    -----
    The batch starting at row ``i`` of the dataset draws from the
    ``SeedSequence`` spawned with key ``i``. Calling ``map`` twice with the same
    perturber gives the same release (``datasets``' cache may return it without
    recomputing); make a new perturber for a new release, which spends epsilon
    again.

    Examples
    --------
    >>> from sklearn_textdp import DPWordSubstituter
    >>> sub = DPWordSubstituter(epsilon=50, store_embeddings_in_pickle=False).fit([])
    >>> perturb = HuggingFacePerturber(sub, "text", random_state=0)
    >>> perturb({"text": ["the movie", None]}, [0, 1])
    {'text': ['the movie', None]}

    With ``datasets``::

        dataset = dataset.map(perturb, batched=True, with_indices=True, num_proc=4)
    """

    def __init__(self, substituter, column, *, output_column=None, random_state=None):
        check_is_fitted(substituter, "mechanism_")
        self.substituter = substituter
        self.column = column
        self.output_column = column if output_column is None else output_column
        self.run_seed = _run_seed(substituter, random_state)

    def __call__(self, batch, indices):
        texts = list(batch[self.column])
        if not texts:
            return {self.output_column: []}
        seed = _partition_seed(self.run_seed, int(indices[0]))
        return {self.output_column: self.substituter._perturb(texts, seed)}


def perturb_hf_dataset(
    substituter,
    dataset,
    column,
    *,
    output_column=None,
    random_state=None,
    batch_size=1000,
    num_proc=None,
    **map_kwargs,
):
    """Perturb the text column ``column`` of a ``datasets.Dataset``.

    Runs ``dataset.map(HuggingFacePerturber(...), batched=True,
    with_indices=True, batch_size=batch_size, num_proc=num_proc, **map_kwargs)``.

    Parameters
    ----------
    substituter : DPWordSubstituter or DensityAwareSubstituter
        A **fitted** substituter (see :class:`HuggingFacePerturber`).
    dataset : datasets.Dataset
    column : str
        The text column; the other columns are passed through untouched.
    output_column : str, default=None
        Where the perturbed texts go; None replaces ``column``.
    random_state : None, int, Generator or RandomState, default=None
        Seed of the run (see :class:`HuggingFacePerturber`).
    batch_size : int, default=1000
        Rows per call (and per random stream).
    num_proc : int, default=None
        Worker processes; each receives the substituter once.
    **map_kwargs
        Passed to ``Dataset.map`` (e.g. ``desc``, ``load_from_cache_file``).

    Returns
    -------
    dataset : datasets.Dataset
    """
    if column not in dataset.column_names:
        raise ValueError(
            f"dataset has no column {column!r}; its columns are {dataset.column_names}."
        )
    perturb = HuggingFacePerturber(
        substituter, column, output_column=output_column, random_state=random_state
    )
    return dataset.map(
        perturb,
        batched=True,
        with_indices=True,
        batch_size=batch_size,
        num_proc=num_proc,
        **map_kwargs,
    )
