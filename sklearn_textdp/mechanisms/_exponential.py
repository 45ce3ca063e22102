"""Exponential mechanisms over a public vocabulary with a public base measure.

All of them output ``y`` with probability proportional to
``exp(-epsilon * s(x, y) / 2) * p(y)`` where ``p`` is a public prior over the
vocabulary (uniform by default) and the score ``s(x, y)`` is 1-Lipschitz in ``x``.
Then ``P[M(x)=y] / P[M(x')=y] <= exp(epsilon * d(x, x'))`` for every ``x, x', y``:
the numerator ratio is at most ``exp(epsilon d / 2)`` and so is the normaliser
ratio. This is the argument of the truncated exponential mechanism (TEM, Carvalho
et al. 2023), extended with a prior and a data-independent random truncation.

- :class:`TruncatedExponential` truncates to the ``k`` nearest words (``k`` drawn
  from a Poisson, independently of the word) and gives every word beyond the
  truncation the score of the truncation radius, as TEM's escape element does. The
  score ``min(d(x, y), rho_k(x))`` is 1-Lipschitz because the distance
  ``rho_k(x)`` from ``x`` to its k-th nearest word is.
- :class:`FullExponential` scores every word with ``s = min(d, gamma)``: with a
  finite ``gamma`` this is TEM's law exactly (the words within ``gamma`` and an
  escape to a prior draw outside), with ``gamma = inf`` SanText's. Sampled exactly
  or by Metropolis-Hastings on the neighbour graph.

Each source word's output law is computed in closed form (in log space) and
sampled by inverse CDF, one uniform per token; words drawn "outside" the candidate
list come from the prior restricted to the outside, by vectorised rejection.
"""

import math

import numpy as np
from scipy.special import logsumexp

from .._array_api import DeviceState
from ._base import Mechanism
from ._device_laws import draw_by_source_blocks, draw_on_device
from ._sampling import (
    PriorSampler,
    categorical_cdf,
    sample_by_source_blocks,
    sample_categorical_rows,
    truncated_poisson_pmf,
)

__all__ = ["TruncatedExponential", "FullExponential"]

#: Elements of a (source words x vocabulary) matrix materialised at once.
_ROW_BUDGET = 4 * 1024 * 1024
#: Largest per-word table of output laws precomputed at construction (float64
#: elements, 256 MB); beyond it, laws are computed per chunk for its distinct words.
_TABLE_BUDGET = 32 * 1024 * 1024


def _log_prior_of(log_prior, rows, n_words):
    if log_prior is None:
        return np.full(np.shape(rows), -math.log(n_words))
    return log_prior[rows]


def _reverse_logcumsumexp(values, axis=1):
    flipped = np.flip(values, axis=axis)
    return np.flip(np.logaddexp.accumulate(flipped, axis=axis), axis=axis)


class TruncatedExponential(Mechanism):
    """Exponential mechanism truncated to nearby words, with a TEM-style escape.

    Parameters
    ----------
    graph : NeighborGraph
        Exact neighbour graph of the vocabulary (row ``i`` starts with ``i``).
    epsilon : float
    n_words : int
    log_prior : ndarray of shape (n_words,), default=None
        Normalised log prior over the vocabulary; uniform when None.
    poisson_mean : float, default=None
        ``ln |W|`` when None.
    max_neighbors : int, default=None
        Graph width when None.
    """

    name = "truncated-exponential"

    def __init__(
        self,
        graph,
        *,
        epsilon,
        n_words,
        log_prior=None,
        poisson_mean=None,
        max_neighbors=None,
    ):
        self.graph = graph
        self.epsilon = float(epsilon)
        self.n_words = int(n_words)
        self.log_prior = log_prior
        self.max_neighbors = (
            graph.n_neighbors
            if max_neighbors is None
            else min(int(max_neighbors), graph.n_neighbors)
        )
        self.poisson_mean = (
            math.log(n_words) if poisson_mean is None else float(poisson_mean)
        )
        self._prior_sampler = PriorSampler(log_prior, self.n_words)
        self._cdf_table = None
        if self.n_words * (self.max_neighbors + 2) <= _TABLE_BUDGET:
            self._cdf_table = self._cdf_of(np.arange(self.n_words))

    @property
    def guarantee(self):
        return (
            f"epsilon*d metric DP (Euclidean), epsilon={self.epsilon:g}, exactly and "
            "for every epsilon > 0: exponential mechanism with a public prior and the "
            "1-Lipschitz score min(d(x, y), rho_k(x)) over the k nearest words, "
            "k ~ Poisson independent of the word. Needs the exact neighbour graph."
        )

    def _candidates(self, sources):
        width = self.max_neighbors + 1
        rows = self.graph.indices[sources, :width].astype(np.int64)
        dist = self.graph.distances[sources, :width].astype(np.float64)
        return rows, dist

    def outcome_log_probabilities(self, sources):
        """Log probabilities of candidates ``0..K`` and of "beyond" (shape (U, K+2))."""
        rows, dist = self._candidates(sources)
        log_p = _log_prior_of(self.log_prior, rows, self.n_words)
        cum_prior = np.cumsum(np.exp(log_p), axis=1)
        with np.errstate(divide="ignore"):
            log_outside = np.log(np.clip(1.0 - cum_prior, 0.0, None))
        if self.max_neighbors + 1 >= self.n_words:
            log_outside[:, -1] = -np.inf  # the lists hold the whole vocabulary
        half_eps = 0.5 * self.epsilon
        log_a = -half_eps * dist + log_p
        out = self._knn_mixture(dist, log_p, log_a, log_outside, half_eps)
        return out - logsumexp(out, axis=1, keepdims=True)

    def _knn_mixture(self, dist, log_p, log_a, log_outside, half_eps):
        big_k = self.max_neighbors
        log_pk = np.log(truncated_poisson_pmf(self.poisson_mean, big_k))  # k = 1..K
        log_sum_a = np.logaddexp.accumulate(log_a, axis=1)[:, :big_k]  # sum_{j<k} a_j
        log_escape = -half_eps * dist[:, 1:] + log_outside[:, :big_k]  # at k=1..K
        log_w = log_pk - np.logaddexp(log_sum_a, log_escape)  # P(k) / Z_k
        # prob_j = a_j * sum_{k>j} w_k + p_j * sum_{1<=k<=j} w_k exp(-eps d_k / 2)
        n = len(dist)
        suffix = np.full((n, big_k + 1), -np.inf)
        suffix[:, :big_k] = _reverse_logcumsumexp(log_w)
        prefix = np.full((n, big_k + 1), -np.inf)
        prefix[:, 1:] = np.logaddexp.accumulate(log_w - half_eps * dist[:, 1:], axis=1)
        log_candidates = np.logaddexp(log_a + suffix, log_p + prefix)
        log_beyond = prefix[:, -1] + log_outside[:, -1]
        return np.column_stack([log_candidates, log_beyond])

    def rest_weights(self, n_words):
        """Words beyond the candidate list are drawn from the prior."""
        if self.log_prior is None:
            return super().rest_weights(n_words)
        return np.exp(self.log_prior)

    def output_distribution(self, word_id):
        rows, _ = self._candidates(np.array([word_id]))
        probs = np.exp(self.outcome_log_probabilities(np.array([word_id]))[0])
        return rows[0], probs[:-1], float(probs[-1])

    def _cdf_of(self, sources, step=8192):
        return np.vstack(
            [
                categorical_cdf(
                    np.exp(self.outcome_log_probabilities(sources[s : s + step]))
                )
                for s in range(0, len(sources), step)
            ]
        )

    def sample(self, ids, rng):
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return ids.copy()
        if self._cdf_table is not None:
            outcome = sample_categorical_rows(self._cdf_table, ids, rng)
        else:
            sources, token_rows = np.unique(ids, return_inverse=True)
            outcome = sample_categorical_rows(self._cdf_of(sources), token_rows, rng)
        width = self.max_neighbors + 1
        beyond = outcome == width
        out = self.graph.indices[ids, np.minimum(outcome, width - 1)].astype(np.int64)
        if beyond.any():
            excluded = self.graph.indices[ids[beyond], :width]
            out[beyond] = self._prior_sampler.draw_outside(excluded, rng)
        return out


class FullExponential(DeviceState, Mechanism):
    """Exponential mechanism over the whole vocabulary with a public prior.

    ``P[M(x)=y] ~ exp(-epsilon * min(d(x, y), gamma) / 2) * p(y)``. With the uniform
    prior and ``gamma=inf`` this is SanText (Yue et al. 2021). With the uniform prior
    and a finite ``gamma`` it is TEM (Carvalho et al. 2023): the words within
    ``gamma`` score ``-d``, and the escape element ``⊥`` scores
    ``-gamma + (2 / epsilon) ln(number of words outside the ball)`` and, when it
    wins, returns a uniform draw outside the ball (never the input word, which is
    inside): together exactly the law above.

    Parameters
    ----------
    vectors : ndarray of shape (n_words, dim)
    epsilon : float
    log_prior : ndarray of shape (n_words,), default=None
    gamma : float, default=inf
    sampler : {"exact", "metropolis"}, default="exact"
        ``"exact"`` computes each source word's law over the whole vocabulary (one
        row per distinct source word of a chunk) and samples it by inverse CDF.
        ``"metropolis"`` runs a Metropolis-Hastings chain of ``mh_steps`` steps from
        the source word, proposing a random graph neighbour or a prior draw with
        equal probability; it never builds a vocabulary-wide row, but a finite chain
        only approximates the law (see :attr:`guarantee`).
    graph : NeighborGraph, default=None
        Needed by the Metropolis-Hastings sampler.
    mh_steps : int, default=200
    device : str, default="cpu"
        Where the exact sampler computes the laws (distances to every word):
        ``"cpu"`` (numpy) or an array-API device (``"cuda"``...; see
        :mod:`sklearn_textdp._array_api`), in float64 there. The same draws as on
        the CPU for the same Generator: tokens whose uniform falls within 1e-8 of a
        step of the device CDF, or whose source has a word within rounding of the
        radius ``gamma``, are drawn again on the host.
    """

    name = "exponential"

    def __init__(
        self,
        vectors,
        *,
        epsilon,
        log_prior=None,
        gamma=np.inf,
        sampler="exact",
        graph=None,
        mh_steps=200,
        device="cpu",
    ):
        self.vectors = np.ascontiguousarray(vectors, dtype=np.float64)
        self.epsilon = float(epsilon)
        self.n_words = len(vectors)
        self.log_prior = log_prior
        self.gamma = float(gamma)
        self.sampler = sampler
        self.graph = graph
        self.mh_steps = int(mh_steps)
        if sampler == "metropolis" and graph is None:
            raise ValueError("sampler='metropolis' needs the neighbour graph.")
        self._squared_norms = np.einsum("ij,ij->i", self.vectors, self.vectors)
        self._prior_sampler = PriorSampler(log_prior, self.n_words)
        self._set_device(device)

    @property
    def guarantee(self):
        exact = (
            f"epsilon*d metric DP (Euclidean), epsilon={self.epsilon:g}, exactly and "
            "for every epsilon > 0 (exponential mechanism with a public prior and the "
            "1-Lipschitz score min(d(x, y), gamma))."
        )
        if self.sampler == "exact":
            return exact
        return (
            exact[:-1] + " for the target law only. The Metropolis-Hastings chain of "
            f"{self.mh_steps} steps starts at the input word and returns an "
            "approximate sample: if its law is within total variation delta of the "
            "target, the mechanism is (epsilon*d, (1 + exp(epsilon*d)) * delta) "
            "private; delta is not bounded by a proof here (see the acceptance rate)."
        )

    def _squared_distances(self, sources):
        squared = self.vectors[sources] @ self.vectors.T
        squared *= -2.0
        squared += self._squared_norms[None, :]
        squared += self._squared_norms[sources, None]
        return np.clip(squared, 0.0, None, out=squared)

    def _distances(self, sources):
        return np.sqrt(self._squared_distances(sources))

    def log_probabilities(self, sources):
        """Log law over the whole vocabulary for each source word (shape (U, V))."""
        scores = -0.5 * self.epsilon * np.minimum(self._distances(sources), self.gamma)
        if self.log_prior is not None:
            scores += self.log_prior[None, :]
        return scores - logsumexp(scores, axis=1, keepdims=True)

    def output_distribution(self, word_id):
        probs = np.exp(self.log_probabilities(np.array([word_id]))[0])
        return np.arange(self.n_words), probs, 0.0

    def sample(self, ids, rng):
        ids = np.asarray(ids, dtype=np.int64)
        if len(ids) == 0:
            return ids.copy()
        if self.sampler == "metropolis":
            return self.metropolis(ids, rng)[0]
        if np.isfinite(self.gamma):
            return self._sample_within_radius(ids, rng)
        if self._device is not None:
            return draw_by_source_blocks(
                self._device,
                ids,
                rng,
                self._device_weights,
                lambda block: np.exp(self.log_probabilities(block)),
                self.n_words,
                _ROW_BUDGET,
            )
        return sample_by_source_blocks(
            ids,
            rng,
            lambda block: np.exp(self.log_probabilities(block)),
            self.n_words,
            _ROW_BUDGET,
        )

    def _pair_squared_distances(self, sources, targets):
        dot = np.einsum("ij,ij->i", self.vectors[sources], self.vectors[targets])
        squared = self._squared_norms[sources] + self._squared_norms[targets] - 2 * dot
        return np.clip(squared, 0.0, None)

    def _sample_within_radius(self, ids, rng):
        """TEM's sampling, exact: a word inside the ball of radius ``gamma`` with
        probability ~ exp(-epsilon d / 2) p(y), or the escape element, whose weight
        exp(-epsilon gamma / 2) * p(outside) stands for every word outside and which
        returns a prior draw from outside the ball. Only the ball is enumerated, so
        a small radius costs one distance row per distinct word, not one law."""
        sources, token_rows = np.unique(ids, return_inverse=True)
        u = rng.random(len(ids))
        step = max(1, _ROW_BUDGET // self.n_words)
        if self._device is not None:
            return self._sample_within_radius_on_device(
                ids, sources, token_rows, u, step, rng
            )
        out = np.empty(len(ids), dtype=np.int64)
        escaped = []
        for start in range(0, len(sources), step):
            block = sources[start : start + step]
            mine = np.flatnonzero((token_rows >= start) & (token_rows < start + step))
            picks, escape = self._ball_draws(block, token_rows[mine] - start, u[mine])
            out[mine[~escape]] = picks[~escape]
            escaped.append(mine[escape])
        escaped = np.concatenate(escaped)
        if len(escaped):
            out[escaped] = self._draw_outside_ball(ids[escaped], rng)
        return out

    def _sample_within_radius_on_device(self, ids, sources, token_rows, u, step, rng):
        """:meth:`_sample_within_radius` with the laws on the device: the escape
        element is outcome ``n_words``; escaped tokens are drawn outside the ball in
        the host path's order (by host block, then token)."""
        n_words = self.n_words

        def host_draw(block, tokens):
            start = block * step
            picks, escape = self._ball_draws(
                sources[start : start + step], token_rows[tokens] - start, u[tokens]
            )
            return np.where(escape, n_words, picks)

        outcome = draw_on_device(
            self._device,
            sources,
            token_rows,
            u,
            self._device_ball_weights,
            host_draw,
            n_outcomes=n_words + 1,
            host_step=step,
        )
        escaped = np.flatnonzero(outcome == n_words)
        escaped = escaped[np.lexsort((escaped, token_rows[escaped] // step))]
        out = outcome.copy()
        if len(escaped):
            out[escaped] = self._draw_outside_ball(ids[escaped], rng)
        return out

    def _device_squared_distances(self, sources):
        """:meth:`_squared_distances` on the device (float64)."""
        dev = self._device
        xp = dev.xp
        if self._device_tables is None:
            log_prior = (
                None
                if self.log_prior is None
                else dev.asarray(self.log_prior, dtype=np.float64)
            )
            self._device_tables = (
                dev.asarray(self.vectors.T, dtype=np.float64),
                dev.asarray(self._squared_norms, dtype=np.float64),
                log_prior,
            )
        vectors_t, norms, _ = self._device_tables
        source = dev.asarray(self.vectors[sources], dtype=np.float64)
        squared = (
            xp.sum(source * source, axis=1)[:, None]
            + norms[None, :]
            - 2.0 * (source @ vectors_t)
        )
        return xp.clip(squared, 0.0, None)

    def _device_weights(self, sources):
        """Unnormalised law of :meth:`log_probabilities` on the device."""
        xp = self._device.xp
        dist = xp.sqrt(self._device_squared_distances(sources))
        scores = -0.5 * self.epsilon * xp.clip(dist, None, self.gamma)
        if self._device_tables[2] is not None:
            scores = scores + self._device_tables[2][None, :]
        return xp.exp(scores - xp.max(scores, axis=1, keepdims=True)), None

    def _device_ball_weights(self, sources):
        """The law of :meth:`_ball_draws` over the words and the escape element
        (last column), dense, on the device; flags sources with a word within
        rounding of the radius."""
        dev = self._device
        xp = dev.xp
        squared = self._device_squared_distances(sources)
        radius_sq = self.gamma**2
        slack = 1e-9 * (radius_sq + 4.0 * float(self._squared_norms.max()))
        near = dev.to_numpy(
            xp.any(xp.abs(squared - radius_sq) <= slack, axis=1)
        ).astype(bool)
        inside = squared < radius_sq
        log_prior = self._device_tables[2]
        if log_prior is None:
            log_prior = xp.full(
                (self.n_words,),
                -math.log(self.n_words),
                dtype=xp.float64,
                device=dev.device,
            )
        neg_inf = xp.asarray(-np.inf, dtype=xp.float64, device=dev.device)
        log_w = xp.where(
            inside,
            -0.5 * self.epsilon * xp.sqrt(squared) + log_prior[None, :],
            neg_inf,
        )
        if self.log_prior is None:
            count = xp.sum(xp.astype(inside, xp.float64), axis=1)
            outside = (self.n_words - count) / self.n_words
        else:
            mass = xp.sum(xp.where(inside, xp.exp(log_prior)[None, :], 0.0), axis=1)
            outside = xp.clip(1.0 - mass, 0.0, None)
        with np.errstate(divide="ignore"):
            log_escape = -0.5 * self.epsilon * self.gamma + xp.log(outside)
        log_all = xp.concat([log_w, log_escape[:, None]], axis=1)
        top = xp.max(log_all, axis=1, keepdims=True)
        return xp.exp(log_all - top), near

    def _ball_draws(self, block, local_rows, u):
        squared = self._squared_distances(block)
        # Every row holds its own word; square roots only for the ball's members.
        rows, cols = np.nonzero(squared < self.gamma**2)
        log_prior = _log_prior_of(self.log_prior, cols, self.n_words)
        log_w = -0.5 * self.epsilon * np.sqrt(squared[rows, cols]) + log_prior
        inside = np.bincount(rows, weights=np.exp(log_prior), minlength=len(block))
        with np.errstate(divide="ignore"):
            log_escape = -0.5 * self.epsilon * self.gamma + np.log(
                np.clip(1.0 - inside, 0.0, None)
            )
        if self.log_prior is None:  # exact count: no rounding of the outside mass
            counts = np.bincount(rows, minlength=len(block))
            with np.errstate(divide="ignore"):
                log_escape = (
                    -0.5 * self.epsilon * self.gamma
                    + np.log(self.n_words - counts)
                    - np.log(self.n_words)
                )
        starts = np.flatnonzero(np.r_[True, rows[1:] != rows[:-1]])
        top = np.maximum(np.maximum.reduceat(log_w, starts), log_escape)
        weights = np.exp(log_w - top[rows])
        totals = np.bincount(rows, weights=weights, minlength=len(block))
        totals += np.exp(log_escape - top)
        cum = np.cumsum(weights)
        before = np.r_[0.0, cum[starts[1:] - 1]]
        within = (cum - before[rows]) / totals[rows]
        position = np.searchsorted(within + rows, local_rows + u, side="right")
        ends = np.r_[starts[1:], len(rows)]
        escape = position >= ends[local_rows]
        return cols[np.minimum(position, len(cols) - 1)], escape

    def _draw_outside_ball(self, sources, rng, max_rounds=64):
        out = np.empty(len(sources), dtype=np.int64)
        pending = np.arange(len(sources))
        for _ in range(max_rounds):
            if len(pending) == 0:
                return out
            picks = self._prior_sampler.draw(len(pending), rng)
            ok = self._pair_squared_distances(sources[pending], picks) >= self.gamma**2
            out[pending[ok]] = picks[ok]
            pending = pending[~ok]
        for i in pending:  # exact fallback: the explicit law outside the ball
            squared = self._squared_distances(sources[i : i + 1])[0]
            weights = np.exp(
                _log_prior_of(self.log_prior, np.arange(self.n_words), self.n_words)
            )
            weights[squared < self.gamma**2] = 0.0
            out[i] = rng.choice(self.n_words, p=weights / weights.sum())
        return out

    def _log_target(self, sources, states):
        diff = self.vectors[states] - self.vectors[sources]
        dist = np.sqrt(np.einsum("ij,ij->i", diff, diff))
        target = -0.5 * self.epsilon * np.minimum(dist, self.gamma)
        if self.log_prior is not None:
            target += self.log_prior[states]
        return target

    def _log_proposal(self, to, frm):
        """log q(to | frm): half a uniform graph neighbour, half a prior draw."""
        neighbours = self.graph.indices[frm, 1:]
        in_list = (neighbours == to[:, None]).any(axis=1)
        local = np.where(in_list, 0.5 / neighbours.shape[1], 0.0)
        global_ = 0.5 * np.exp(_log_prior_of(self.log_prior, to, self.n_words))
        return np.log(local + global_)

    def metropolis(self, ids, rng):
        """Run the chains; returns (final states, acceptance rate)."""
        states = ids.copy()
        current = self._log_target(ids, states)
        accepted = 0
        width = self.graph.indices.shape[1] - 1
        for _ in range(self.mh_steps):
            use_graph = rng.random(len(ids)) < 0.5
            neighbour = self.graph.indices[states, 1 + rng.integers(0, width, len(ids))]
            proposal = np.where(
                use_graph, neighbour, self._prior_sampler.draw(len(ids), rng)
            )
            target = self._log_target(ids, proposal)
            log_ratio = (
                target
                - current
                + self._log_proposal(states, proposal)
                - self._log_proposal(proposal, states)
            )
            accept = np.log(rng.random(len(ids))) < log_ratio
            states = np.where(accept, proposal, states)
            current = np.where(accept, target, current)
            accepted += int(accept.sum())
        return states, accepted / max(1, len(ids) * self.mh_steps)
