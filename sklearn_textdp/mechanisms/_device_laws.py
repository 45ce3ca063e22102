"""Inverse-CDF draws from vocabulary-wide laws computed on an array-API device.

The host path (:func:`~sklearn_textdp.mechanisms._sampling.sample_by_source_blocks`)
computes the law of each distinct source word in blocks and draws one outcome per
token with one uniform from the estimator's numpy Generator. Here the laws of much
larger blocks are computed on a device (float64 there), with the same uniforms. A
token whose uniform lies within :data:`_MARGIN` of a step of its device CDF (or
whose law the device flags as doubtful, e.g. a word on a truncation radius) is
drawn again on the host by the host code, over the host's block: so every token
gets exactly the host path's outcome, whatever the device's rounding (float64
rounding moves a CDF by ~1e-13 here, 10^5 times less than the margin).
"""

import inspect

import numpy as np

from ._sampling import sample_by_source_blocks, sample_dense_rows

__all__ = ["draw_on_device", "draw_by_source_blocks", "DEVICE_LAW_BUDGET"]

#: Probabilities of one device block (float64 elements): 1 GB per matrix.
DEVICE_LAW_BUDGET = 128 * 1024 * 1024
#: Tokens whose uniform is this close to a CDF step are re-drawn on the host.
_MARGIN = 1e-8


def draw_on_device(
    device, unique, token_rows, u, device_weights, host_draw, *, n_outcomes, host_step
):
    """Outcome of each token from the laws of its source word.

    Parameters
    ----------
    device : ArrayDevice
    unique : ndarray of int64
        The distinct source words, sorted.
    token_rows : ndarray of int64
        For each token, its source's row in ``unique``.
    u : ndarray of float64
        One uniform per token (already drawn from the Generator).
    device_weights : callable
        ``device_weights(block) -> (weights, doubtful)``: non-negative weights of
        shape (len(block), n_outcomes) on the device, and a numpy bool mask of the
        block's rows whose law the host must compute (or None).
    host_draw : callable
        ``host_draw(host_block, token_indices) -> outcomes``: the host path's draws
        for those tokens, whose sources all lie in host block ``host_block`` (rows
        ``host_block * host_step`` to ``(host_block + 1) * host_step`` of
        ``unique``).
    n_outcomes, host_step : int

    Returns
    -------
    outcomes : ndarray of int64
    """
    xp = device.xp
    out = np.empty(len(token_rows), dtype=np.int64)
    # Device blocks are whole host blocks, so a doubtful token's host block is known.
    step = host_step * max(1, DEVICE_LAW_BUDGET // (n_outcomes * host_step))
    redo = []
    for start in range(0, len(unique), step):
        mine = np.flatnonzero((token_rows >= start) & (token_rows < start + step))
        if len(mine) == 0:
            continue
        weights, doubtful_rows = device_weights(unique[start : start + step])
        cdf = xp.cumulative_sum(weights, axis=1)
        cdf = cdf / cdf[:, -1:]
        n_rows = cdf.shape[0]
        cdf = xp.where(
            xp.arange(n_outcomes, device=device.device)[None, :] == n_outcomes - 1,
            xp.asarray(1.0, dtype=cdf.dtype, device=device.device),
            cdf,
        )
        offsets = xp.arange(n_rows, dtype=cdf.dtype, device=device.device)
        shifted = xp.reshape(cdf + offsets[:, None], (-1,))
        local = token_rows[mine] - start
        target = device.asarray(local + u[mine], dtype=np.float64)
        flat = xp.searchsorted(shifted, target, side="right")
        flat = xp.clip(flat, 0, n_rows * n_outcomes - 1)
        hi = xp.take(shifted, flat)
        lo = xp.take(shifted, xp.clip(flat - 1, 0, None))
        flat, hi, lo = (device.to_numpy(a) for a in (flat, hi, lo))
        picks = np.minimum(flat.astype(np.int64) - local * n_outcomes, n_outcomes - 1)
        lo = np.where(picks == 0, local, lo)  # the step below outcome 0 is the row
        position = local + u[mine]
        close = np.minimum(position - lo, hi - position) < _MARGIN
        if doubtful_rows is not None:
            close |= doubtful_rows[local]
        out[mine] = picks
        redo.append(mine[close])
    redo = np.concatenate(redo) if redo else np.empty(0, dtype=np.int64)
    if len(redo):
        blocks = token_rows[redo] // host_step
        for block in np.unique(blocks):
            tokens = redo[blocks == block]
            out[tokens] = host_draw(int(block), tokens)
    return out


def draw_by_source_blocks(
    device, sources, rng, device_weights, host_laws, n_outcomes, budget=None
):
    """:func:`sample_by_source_blocks` with the laws computed on ``device``: the same
    uniforms, the same outcomes.

    ``device_weights(block) -> (weights, doubtful)`` as in :func:`draw_on_device`;
    ``host_laws(block)`` is the host path's ``laws_of``; ``budget`` the host path's
    (its default when None).
    """
    if budget is None:
        budget = inspect.signature(sample_by_source_blocks).parameters["budget"].default
    unique, rows = np.unique(sources, return_inverse=True)
    u = rng.random(len(sources))
    host_step = max(1, budget // n_outcomes)

    def host_draw(block, tokens):
        start = block * host_step
        laws = host_laws(unique[start : start + host_step])
        return sample_dense_rows(laws, rows[tokens] - start, u[tokens])

    return draw_on_device(
        device,
        unique,
        rows,
        u,
        device_weights,
        host_draw,
        n_outcomes=n_outcomes,
        host_step=host_step,
    )
