"""Token-mean weight tables in O(M) memory: the Laplace route for large groups.

``aggregation`` computes the token-mean weight of a response of length l by inverting the joint
transform of the other samples' correct count S' and token total T on an ``[M, G M L]`` grid, so
memory grows as M^2 L G (M = 16384, L = 8: 34 GB). Here the same numbers come from
1/(l + T) = int_0^inf e^{-(l + T) u} du, so for a table c_s over S' = s (a[s+1] or b[s]):

  E[c_S' / (l + T)] = int_0^inf e^{-l u} q(z)^N sum_s c_s Bin(s; M-1, x(z)) du,  z = e^{-u},

with c(z), w(z) the probability generating functions of the length of a correct / wrong sample,
q = c + w, x = c / q and N = (M - 1) + (G - 1) M the other samples of the group and of the other
G - 1 groups (drawn from the same law). The integrand is analytic in u; double-exponential
(exp-sinh) quadrature converges to float64 rounding in ~200 nodes, each O(M) (one binomial pmf):
memory O(M + L), time O(nodes M). NumPy float64 only (explain, exact tables); the FFT route
stays the reference, and the one the simulator traces.
"""

from __future__ import annotations

import numpy as np

from rlxform.core import bernstein as bern

_LEVELS = (1 / 8, 1 / 16, 1 / 32, 1 / 64)  # exp-sinh steps, halved until two agree
_T_MAX = 4.5  # sinh-grid half width: u / scale in [e^-70, e^70]
_RTOL = 1e-13


def _log_pgf(log_law: np.ndarray, u: np.ndarray) -> np.ndarray:
    """log sum_len law[len] e^{-u len}: ``log_law float[L+1]``, ``u float[K]`` -> ``float[K]``."""
    lengths = np.arange(log_law.shape[-1])
    terms = log_law[None, :] - u[:, None] * lengths[None, :]
    top = np.max(terms, axis=1, keepdims=True)
    top = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):
        return np.log(np.sum(np.exp(terms - top), axis=1)) + top[:, 0]


def _integrand(u, log_c, log_w, coefficients, lengths_l, others):
    """``float[K, 2, L]``: e^{-l u} q^N sum_s coef_s Bin(s; M-1, x) at the nodes u."""
    m = coefficients.shape[-1]  # M values s = 0..M-1
    lc, lw = _log_pgf(log_c, u), _log_pgf(log_w, u)
    log_q = np.logaddexp(lc, lw)
    with np.errstate(invalid="ignore"):
        x = np.where(np.isfinite(log_q), np.exp(lc - log_q), 0.0)
    pmf = bern.binomial_pmf(m - 1, np.clip(x, 0.0, 1.0))  # [K, M]
    mixed = pmf @ coefficients.T  # [K, 2]
    power = np.exp(((m - 1) + others) * log_q)  # [K]
    decay = np.exp(-u[:, None] * lengths_l[None, :])  # [K, L]
    return (power[:, None] * mixed)[:, :, None] * decay[:, None, :]


def token_mean_tables(law_correct, law_wrong, a_table, b_table, max_length: int, groups: int):
    """``(table_correct, table_wrong)``, each ``float64[L]``: G M E[a(S'+1) / (l + T)] and
    G M E[b(S') / (l + T)] for l = 1..max_length (as ``aggregation``'s FFT route), one row.

    Args:
      law_correct, law_wrong: ``float[L+1]`` mass of correct / wrong responses by length.
      a_table, b_table: ``float[M+1]`` the scheme's tables.
      max_length: L. groups: G, the groups sharing the normaliser.
    """
    a_table, b_table = np.asarray(a_table, np.float64), np.asarray(b_table, np.float64)
    m = a_table.shape[0] - 1
    coefficients = np.stack([a_table[1:], b_table[:-1]])  # [2, M]
    with np.errstate(divide="ignore"):
        log_c = np.log(np.asarray(law_correct, np.float64))
        log_w = np.log(np.asarray(law_wrong, np.float64))
    lengths_l = np.arange(1, max_length + 1, dtype=np.float64)
    total = np.exp(np.logaddexp.reduce(np.logaddexp(log_c, log_w)))
    mean_length = float(np.sum(np.arange(log_c.shape[0]) * (np.exp(log_c) + np.exp(log_w))))
    scale = 1.0 / (1.0 + (m * groups) * mean_length / max(total, 1e-300))
    others = (groups - 1) * m
    previous = None
    for h in _LEVELS:
        t = np.arange(-_T_MAX, _T_MAX + h / 2, h)
        y = np.exp(0.5 * np.pi * np.sinh(t))
        weights = h * 0.5 * np.pi * np.cosh(t) * y * scale  # du = scale dy, dy = y pi/2 cosh dt
        values = np.zeros((2, max_length))
        for start in range(0, t.size, 64):  # blocks: memory O(64 M)
            part = slice(start, start + 64)
            f = _integrand(y[part] * scale, log_c, log_w, coefficients, lengths_l, others)
            values += np.tensordot(weights[part], f, axes=1)
        if previous is not None and np.allclose(values, previous, rtol=_RTOL, atol=0.0):
            break
        previous = values
    return groups * m * values[0], groups * m * values[1]
