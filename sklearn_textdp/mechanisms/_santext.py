"""SanText+ (Yue, Du, Wang, Li, Sun, Chow, Findings of ACL 2021)."""

import numpy as np

from .._array_api import DeviceState
from ._base import Mechanism
from ._device_laws import draw_by_source_blocks
from ._sampling import sample_by_source_blocks

__all__ = ["SanTextPlus", "sensitive_words_by_rank"]


def sensitive_words_by_rank(n_words, fraction, frequency_rank=None):
    """Mask of the ``fraction`` least frequent words (exactly ``round(fraction * n)``).

    ``frequency_rank[i]`` is the rank of word ``i`` by decreasing frequency; None
    means the rows are already in frequency order (as GloVe files are). Unlike the
    reference code (``words[-count-1:]``), no extra word is taken.
    """
    count = int(round(fraction * n_words))
    rank = np.arange(n_words) if frequency_rank is None else np.asarray(frequency_rank)
    mask = np.zeros(n_words, dtype=bool)
    if count:
        mask[np.argsort(rank, kind="stable")[-count:]] = True
    return mask


class SanTextPlus(DeviceState, Mechanism):
    """SanText+: sensitive words always perturbed, the others with probability ``p``.

    The least frequent ``w`` share of the vocabulary is *sensitive*. A perturbed
    word ``x`` becomes ``y`` in the sensitive set with probability
    ``~ exp(-epsilon * d(x, y) / 2)``; a non-sensitive word is perturbed with
    probability ``p`` and otherwise kept.

    Parameters
    ----------
    vectors : ndarray of shape (n_words, dim)
    epsilon : float
    sensitive : ndarray of bool, shape (n_words,)
        The sensitive words (the output domain).
    perturb_probability : float
        ``p``, the probability that a non-sensitive word is perturbed.
    device : str, default="cpu"
        Where the laws over the sensitive words are computed: ``"cpu"`` (numpy) or
        an array-API device (``"cuda"``...; see :mod:`sklearn_textdp._array_api`),
        in float64 there; the same draws as on the CPU for the same Generator.
    """

    name = "santext+"

    def __init__(
        self, vectors, *, epsilon, sensitive, perturb_probability, device="cpu"
    ):
        self.epsilon = float(epsilon)
        self.sensitive = np.asarray(sensitive, dtype=bool)
        if not self.sensitive.any():
            raise ValueError(
                "SanText+ needs at least one sensitive word "
                "(sensitive_fraction is too small for this vocabulary)."
            )
        self.perturb_probability = float(perturb_probability)
        self.domain = np.flatnonzero(self.sensitive)
        self._vectors = np.asarray(vectors, dtype=np.float64)
        self._domain_sq = (self._vectors[self.domain] ** 2).sum(axis=1)
        self._set_device(device)

    @property
    def guarantee(self):
        return (
            f"epsilon*d metric DP (Euclidean, epsilon={self.epsilon:g}) between "
            "sensitive words only. A non-sensitive word is released in clear with "
            f"probability {1 - self.perturb_probability:g}, and its perturbations lie "
            "in the sensitive set, so between a sensitive and a non-sensitive word the "
            "likelihood ratio is unbounded."
        )

    def _domain_laws(self, sources):
        """Law over the sensitive words for each source (rows sum to 1)."""
        domain = self._vectors[self.domain]
        source_sq = (self._vectors[sources] ** 2).sum(axis=1)
        squared = (
            source_sq[:, None]
            + self._domain_sq[None, :]
            - 2.0 * (self._vectors[sources] @ domain.T)
        )
        logits = -0.5 * self.epsilon * np.sqrt(np.clip(squared, 0.0, None))
        probs = np.exp(logits - logits.max(axis=1, keepdims=True))
        return probs / probs.sum(axis=1, keepdims=True)

    def _device_domain_weights(self, sources):
        """Unnormalised :meth:`_domain_laws` on the device (float64)."""
        dev = self._device
        xp = dev.xp
        if self._device_tables is None:
            domain = self._vectors[self.domain]
            self._device_tables = (
                dev.asarray(domain.T, dtype=np.float64),
                dev.asarray(self._domain_sq, dtype=np.float64),
            )
        domain_t, domain_sq = self._device_tables
        source = dev.asarray(self._vectors[sources], dtype=np.float64)
        squared = (
            xp.sum(source * source, axis=1)[:, None]
            + domain_sq[None, :]
            - 2.0 * (source @ domain_t)
        )
        logits = -0.5 * self.epsilon * xp.sqrt(xp.clip(squared, 0.0, None))
        return xp.exp(logits - xp.max(logits, axis=1, keepdims=True)), None

    def output_distribution(self, word_id):
        probs = self._domain_laws(np.array([word_id]))[0]
        if self.sensitive[word_id]:
            return self.domain, probs, 0.0
        rows = np.append(self.domain, word_id)
        return (
            rows,
            np.append(self.perturb_probability * probs, 1.0 - self.perturb_probability),
            0.0,
        )

    def sample(self, ids, rng):
        ids = np.asarray(ids, dtype=np.int64)
        perturbed = self.sensitive[ids] | (
            rng.random(len(ids)) < self.perturb_probability
        )
        out = ids.copy()
        if perturbed.any() and self._device is not None:
            picks = draw_by_source_blocks(
                self._device,
                ids[perturbed],
                rng,
                self._device_domain_weights,
                self._domain_laws,
                len(self.domain),
            )
            out[perturbed] = self.domain[picks]
        elif perturbed.any():
            picks = sample_by_source_blocks(
                ids[perturbed], rng, self._domain_laws, len(self.domain)
            )
            out[perturbed] = self.domain[picks]
        return out
