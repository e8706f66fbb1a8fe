"""Batch-level steps of slime, ROLL and AReaL advantages, restated in NumPy float64.

Each takes one value per response and its length in tokens (every token of a response carries
its response's value, as these trainers broadcast an outcome reward with gamma = 1), so the
token-weighted statistics are length-weighted sums over responses:

* ``slime_whiten``: slime v0.3.1 ``distributed_masked_whiten`` (slime/utils/distributed_utils.py:
  111-171): mean and mean of squares over loss tokens, var = (E[x^2] - mean^2) n/(n-1) (n tokens,
  n >= 2), (x - mean) / sqrt(var + 1e-8).
* ``roll_whiten``: ROLL v0.3.0 ``masked_whiten`` (roll/utils/functionals.py:285-319, 364-370):
  mean = sum / (n + 1e-8), var = sum (x - mean)^2 / (n + 1e-8) * n/(n-1), (x - mean) /
  sqrt(var + 1e-8), over the tokens the mask keeps; masked responses get 0 (:1177-1180).
* ``areal_normalise``: AReaL 1.0.4 ``Normalization`` (areal/utils/data.py:1378-1595): mean
  batch / group (rows in blocks of group_size) / None, leave-one-out, std around that mean,
  unbiased or not, (x - mean) / (std + eps); token-weighted when ``weights`` are given
  (``adv_norm`` with the loss mask).

And ``resolve_interpolations``: OmegaConf ``${a.b}`` references of a YAML config resolved from
the file's own keys (ROLL and AReaL configs use them for the group size).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np

from rlxform.types import NDArray
from rlxform.validation import InputError

SLIME_WHITEN_EPS = 1e-8  # distributed_masked_whiten(epsilon=1e-8), inside the rsqrt
ROLL_WHITEN_EPS = 1e-8  # masked_whiten: rsqrt(var + 1e-8)
ROLL_MEAN_EPS = 1e-8  # masked_mean: sum / (mask.sum() + 1e-8)


def slime_whiten(values: NDArray, lengths: NDArray) -> NDArray:
    """slime's token-level whitening of per-response values (see the module docstring)."""
    n = lengths.sum()
    mean = np.sum(values * lengths) / n
    var = np.sum(values**2 * lengths) / n - mean**2
    if n >= 2:
        var = var * n / (n - 1.0)
    return (values - mean) / np.sqrt(var + SLIME_WHITEN_EPS)


def roll_whiten(values: NDArray, lengths: NDArray, kept: NDArray) -> NDArray:
    """ROLL's ``masked_whiten`` over the tokens of kept responses; others get 0."""
    weights = lengths * kept
    n = weights.sum()
    if n == 0:  # compute_advantage skips whitening when the mask is empty (:1097-1100)
        return values * kept
    if n == 1:
        raise InputError(
            "the kept responses hold 1 token: ROLL's masked_var raises (division by zero) "
            "(roll/utils/functionals.py:311-312)"
        )
    mean = np.sum(values * weights) / (n + ROLL_MEAN_EPS)
    var = np.sum((values - mean) ** 2 * weights) / (n + ROLL_MEAN_EPS) * n / (n - 1.0)
    return (values - mean) / np.sqrt(var + ROLL_WHITEN_EPS) * kept


def areal_normalise(
    x: NDArray,
    weights: NDArray | None,
    *,
    mean_level: str | None,
    std_level: str | None,
    leave1out: bool,
    unbiased: bool,
    eps: float,
    group_size: int,
) -> NDArray:
    """AReaL's ``Normalization`` of per-response values ``x`` (``float64[N]``).

    ``weights``: tokens per response (the loss mask of ``adv_norm``), None for ``reward_norm``
    (one value per response, no mask). Levels: "batch", "group" or None.
    """
    n = x.size
    w = np.ones(n) if weights is None else np.asarray(weights, np.float64)
    if mean_level == "group" or std_level == "group":
        if n % group_size:
            raise InputError(
                f"group_size={group_size} is invalid for {n} responses: AReaL's group "
                "normalisation leaves the last rows unnormalised (mean 0, std 0) when the batch "
                "is not a multiple of group_size; must divide the batch"
            )
    blocks = [slice(0, n)]
    if mean_level == "group":
        blocks = [slice(i, i + group_size) for i in range(0, n, group_size)]
    mean = np.zeros(n)
    if mean_level in ("batch", "group"):
        for block in blocks:
            mean[block] = _mean(x[block], w[block], leave1out, group_size, mean_level)
    centred = x - mean
    if std_level is None:
        return centred
    blocks = [slice(0, n)]
    if std_level == "group":
        blocks = [slice(i, i + group_size) for i in range(0, n, group_size)]
    std = np.zeros(n)
    for block in blocks:
        if std_level == "group" and group_size == 1 and unbiased:
            std[block] = 1.0
            continue
        factor = w[block].sum()
        squares = np.sum(w[block] * (x[block] - mean[block]) ** 2)
        if unbiased:
            std[block] = 1.0 if factor <= 1 else np.sqrt(squares / (factor - 1.0))
        else:
            std[block] = 1.0 if factor == 0 else np.sqrt(squares / factor)
    return centred / (std + eps)


def _mean(x: NDArray, w: NDArray, leave1out: bool, group_size: int, level: str) -> Any:
    if level == "group" and group_size == 1 and leave1out:
        return 0.0
    factor, total = w.sum(), np.sum(w * x)
    if leave1out:
        if factor <= 1:
            return 0.0
        # token-level leave-one-out: each token leaves itself out (clamp(factor - mask, 1))
        return (total - x) / np.maximum(factor - 1.0, 1.0)
    return 0.0 if factor == 0 else total / factor


# ---- OmegaConf interpolations ----------------------------------------------------------------

_REFERENCE = re.compile(r"\$\{([A-Za-z_][\w.]*)\}")


def resolve_interpolations(
    values: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
) -> tuple[dict[str, Any], list[str]]:
    """(values with ``${a.b}`` references resolved, the ones that could not be).

    A value that is exactly one reference takes the referenced value (its type kept); a
    reference inside a longer text is replaced by the text of the value. References are looked
    up in ``values`` (dotted keys) and then in ``defaults``; chains are followed (at most 16).
    """
    defaults = defaults or {}
    out = dict(values)
    unresolved: list[str] = []

    def lookup(name: str, depth: int) -> Any:
        if depth > 16:
            raise InputError(f"${{{name}}}: interpolations nest more than 16 deep (a cycle?)")
        if name in out:
            return resolve(out[name], depth + 1)
        if name in defaults:
            return defaults[name]
        raise KeyError(name)

    def resolve(value: Any, depth: int = 0) -> Any:
        if not isinstance(value, str) or "${" not in value:
            return value
        whole = _REFERENCE.fullmatch(value.strip())
        if whole:
            return lookup(whole[1], depth)
        return _REFERENCE.sub(lambda m: str(lookup(m[1], depth)), value)

    for key, value in values.items():
        try:
            out[key] = resolve(value)
        except KeyError as err:
            unresolved.append(f"{key}={value} (${{{err.args[0]}}} is not set in the file)")
    return out, unresolved
