"""What every word-level mechanism provides."""

from abc import ABC, abstractmethod

import numpy as np

__all__ = ["Mechanism"]


class Mechanism(ABC):
    """A fitted word-level mechanism over a public vocabulary.

    A mechanism holds only public data (the embedding, its neighbour graph, a prior
    fitted on the embedding) and its parameters. :meth:`sample` is a pure, vectorised
    function of the source word ids and a :class:`numpy.random.Generator`: the
    estimators do the plumbing (text, vocabulary lookup, chunking, seeding).
    """

    #: Registry name of the mechanism.
    name = None

    @property
    @abstractmethod
    def guarantee(self):
        """The privacy guarantee, in words: which epsilon, distance and assumptions."""

    @abstractmethod
    def sample(self, ids, rng):
        """Perturb the words ``ids`` (int array of vocabulary rows); returns rows."""

    def output_distribution(self, word_id):
        """Exact output law of one source word, where it has a closed form.

        Returns
        -------
        rows : ndarray of int64
            Words with explicitly computed probability.
        probabilities : ndarray of float64
        rest : float
            Mass of the words not in ``rows``, spread over them in proportion to
            :meth:`rest_weights`.
        """
        raise NotImplementedError(
            f"{type(self).__name__} has no closed-form output law."
        )

    def rest_weights(self, n_words):
        """How the ``rest`` mass of :meth:`output_distribution` is spread (uniform)."""
        return np.full(n_words, 1.0 / n_words)

    def output_law(self, word_id, n_words):
        """The exact probability of every one of the ``n_words`` vocabulary words."""
        rows, probabilities, rest = self.output_distribution(word_id)
        law = np.zeros(n_words)
        law[rows] = probabilities
        if rest > 0:
            outside = np.setdiff1d(np.arange(n_words), rows)
            weights = self.rest_weights(n_words)[outside]
            law[outside] = rest * weights / weights.sum()
        return law
