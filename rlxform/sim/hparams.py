"""``HParams``: the simulator's traced hyperparameters, and their checks.

Swept numbers (learning rate, eps, KL and entropy coefficients, PPO clips, the filters' numbers)
are traced, so a vmapped grid compiles once; ``None`` keeps a term out of the program.
``check_hparams`` validates concrete values against ``HPARAM_BOUNDS``; ``checked_hparams(fn)``
does it before each call of a jitted ``fn(hparams, ...)`` (tracers pass unchecked).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, NamedTuple

from rlxform.core.filters import FILTER_BOUNDS, check_ordered
from rlxform.types import ArrayLike
from rlxform.validation import InputError, check_float, is_concrete, real_array


class HParams(NamedTuple):
    """Traced hyperparameters (vmap over them compiles once).

    Attributes:
      learning_rate: float[] > 0.
      eps: float[] replacing the scheme's eps in std-normalised schemes; None keeps the
        scheme's own (ignored by schemes without eps).
      kl_coef: float[] >= 0, beta of the KL penalty to the initial policy (``SimConfig``'s
        kl_estimator at kl_placement); None (default) = no KL term, the program without one.
      clip_low, clip_high: float[] PPO clip range, ratio clipped to [1 - clip_low,
        1 + clip_high] (DAPO's clip-higher: clip_high > clip_low); None = 0.2. Used only when
        ``SimConfig.is_ppo``.
      dual_clip: float[] > 1, verl's dual clip c (the loss of a negative advantage A is bounded
        by -c A); None = off.
      vllm_cap ... range_high: the filters' numbers (``rlxform.sim.filters``, None: default).
    """

    learning_rate: ArrayLike
    eps: ArrayLike | None = None
    clip_low: ArrayLike | None = None
    clip_high: ArrayLike | None = None
    dual_clip: ArrayLike | None = None
    kl_coef: ArrayLike | None = None
    vllm_cap: ArrayLike | None = None
    vllm_cap_min: ArrayLike | None = None
    mismatch_mean: ArrayLike | None = None
    mismatch_sd: ArrayLike | None = None
    overlong_buffer: ArrayLike | None = None
    overlong_factor: ArrayLike | None = None
    entropy_quantile: ArrayLike | None = None
    range_low: ArrayLike | None = None
    range_high: ArrayLike | None = None
    entropy_coef: ArrayLike | None = None  # float[] >= 0, c of sim.entropy_term; None: no term


# (low, high, low end open) of each traced value: finite, and all but eps nonzero in float32
HPARAM_BOUNDS = {
    "learning_rate": (0.0, None, True),
    "eps": (0.0, None, False),
    "clip_low": (0.0, 1.0, True),
    "clip_high": (0.0, None, False),
    "dual_clip": (1.0, None, True),
    "kl_coef": (0.0, None, False),
    **FILTER_BOUNDS,
    "entropy_coef": (0.0, None, False),
}


def check_hparams(hparams: HParams) -> HParams:
    """Validate concrete hyperparameters against ``HPARAM_BOUNDS`` (learning rate required)."""
    for name, (low, high, low_open) in HPARAM_BOUNDS.items():
        value = getattr(hparams, name)
        optional = value is None and name != "learning_rate"
        values = () if optional else real_array(name, value).reshape(-1)
        if not optional and len(values) == 0:  # an empty grid: a sweep of no runs
            raise InputError(f"{name}={value!r} is invalid: must hold at least one number")
        for item in values:
            check_float(name, item.item(), low, high, low_open=low_open, float32=name != "eps")
    check_ordered(hparams)
    return hparams


def _check_if_concrete(hparams: Any) -> Any:
    if isinstance(hparams, HParams) and is_concrete(hparams):
        check_hparams(hparams)
    return hparams


def checked_hparams(fn, guard: Callable[..., Any] | None = None):
    """``fn(hparams, ...)`` (jitted) that first validates concrete ``HParams`` (tracers pass)
    and calls ``guard(hparams, *args)`` (the resource guard, from the arguments' shapes).

    ``.lower`` checks too; ``._cache_size`` and ``.jitted`` are the jitted function's."""

    def check(hparams: HParams, args: tuple) -> HParams:
        hparams = _check_if_concrete(hparams)
        if guard is not None:
            guard(hparams, *args)
        return hparams

    @functools.wraps(fn)
    def run(hparams: HParams, *args: Any, **kwargs: Any) -> Any:
        return fn(check(hparams, args), *args, **kwargs)

    run.lower = lambda hparams, *a, **k: fn.lower(check(hparams, a), *a, **k)
    run._cache_size = getattr(fn, "_cache_size", None)
    run.jitted = fn
    return run
