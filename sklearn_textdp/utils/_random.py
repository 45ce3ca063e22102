"""Random number generation for DP noise.

``random_state=None`` means fresh operating-system entropy on every call (the
secure default); an int is a reproducible seed for tests and benchmarks; a
``numpy.random.Generator`` is used as given. Noise is drawn per *block* of
documents from independent streams (``SeedSequence`` spawn keys), so a seeded
transform gives the same output whatever ``n_jobs`` or chunking is used.
"""

import numbers

import numpy as np

__all__ = ["check_rng", "root_seed_sequence", "block_rng"]


def check_rng(random_state):
    """Turn ``random_state`` into a :class:`numpy.random.Generator`.

    Never returns numpy's global state: a stray ``np.random.seed`` elsewhere in the
    process cannot fix our noise.
    """
    return np.random.Generator(np.random.PCG64(root_seed_sequence(random_state)))


def root_seed_sequence(random_state):
    """A :class:`numpy.random.SeedSequence` for one call with ``random_state``."""
    if random_state is None:
        return np.random.SeedSequence()  # fresh OS entropy
    if isinstance(random_state, numbers.Integral) and not isinstance(
        random_state, bool
    ):
        return np.random.SeedSequence(int(random_state))
    if isinstance(random_state, np.random.Generator):
        return np.random.SeedSequence(random_state.integers(0, 2**63, size=4).tolist())
    if isinstance(random_state, np.random.RandomState):
        return np.random.SeedSequence(random_state.randint(0, 2**31, size=4).tolist())
    if isinstance(random_state, np.random.SeedSequence):
        return random_state
    raise TypeError(
        "random_state must be None, an int, a numpy Generator, RandomState or "
        f"SeedSequence; got {type(random_state).__name__}."
    )


def block_rng(root, block):
    """The generator of document block ``block``: independent of every other block."""
    child = np.random.SeedSequence(root.entropy, spawn_key=(*root.spawn_key, block))
    return np.random.Generator(np.random.PCG64(child))
