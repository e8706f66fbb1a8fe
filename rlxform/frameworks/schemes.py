"""Trainer schemes by name, and batch-level std limits.

``resolve_scheme("verl:grpo")`` (also ``trl:group``, ``openrlhf:group_norm``, any record's
``framework:estimator``, a catalog name or, only with ``allow_import=True``, ``module:function``:
importing a module runs its code, so a config file never does it unasked) gives a ``Scheme``.
Batch-level estimators (TRL ``scale_rewards="batch"``, OpenRLHF ``reinforce_baseline``) are
not per-group rules: as the batch grows their batch std tends to a population constant sigma and
the update to the mean baseline over sigma, h_M = ((M-1)/M) p / sigma (``batch_std_limit``; the
``batch_std`` rule registered here is that limit scheme).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np

from rlxform.core import bernstein as bern
from rlxform.core import schemes as sch
from rlxform.core.registry import Counts, Scheme, register
from rlxform.types import ArrayLike
from rlxform.validation import (
    InputError,
    check_choice,
    check_float,
    check_group_size,
    check_unit_interval,
)


def _batch_limit(framework, estimator, batch_std):
    den = batch_denominator(framework, batch_std)
    return bern.scaled(bern.identity, 1.0 / den), f"p / {den:.4g}"


@register(
    "batch_std",
    "a = (1-q)/den, b = -q/den: large-batch limit of a batch-std advantage (den from sigma)",
    _batch_limit,
    min_group_size=2,
)
def batch_std_rule(c: Counts, framework: str, estimator: str, batch_std: float):
    den = batch_denominator(framework, batch_std)
    return (1.0 - c.q) / den, -c.q / den


# framework -> what it divides by for a batch std sigma; each trainer module registers its own
# rule beside its constants (TRL sigma + 1e-4, OpenRLHF sqrt(max(sigma^2, 1e-8)))
BATCH_DENOMINATORS: dict[str, Callable[[float], float]] = {}


def batch_denominator(framework: str, batch_std: float) -> float:
    """What ``framework`` divides by for a batch std sigma (``BATCH_DENOMINATORS``)."""
    return BATCH_DENOMINATORS[framework](batch_std)


def batch_scheme(framework: str, estimator: str, batch_std: Any, what: str) -> Scheme:
    """The large-batch limit scheme of a batch-std estimator, given sigma (``batch_std``)."""
    if batch_std is None:
        raise InputError(
            f"{what} divides by the std of the whole batch, not of one group: pass batch_std "
            "(the population limit, frameworks.batch_std_limit) for its large-batch scheme"
        )
    sigma = check_float("batch_std", batch_std, 0.0, low_open=True)
    return Scheme.make("batch_std", framework=framework, estimator=estimator, batch_std=sigma)


def batch_std_limit(framework: str, estimator: str, group_size: int, p_correct: ArrayLike) -> float:
    """Large-batch limit sigma of the batch std for a population of prompts with ``p_correct``.

    TRL scale_rewards="batch": std of the raw rewards, sigma^2 = pbar (1 - pbar), pbar = mean p.
    OpenRLHF reinforce_baseline: std of the group-centred A = r - mean (token-weighted; equal
    lengths or lengths independent of r), sigma^2 = ((M-1)/M) mean p (1-p).
    Then E[update of prompt x] -> ((M-1)/M) / den * grad p_x: h = ((M-1)/M) p / den.

    Args:
      p_correct: ``float[P]`` success probabilities of the prompts in the batch.
    Returns:
      sigma (float).
    """
    framework = check_choice("framework", framework, ("trl", "openrlhf"))
    allowed = ("batch",) if framework == "trl" else ("reinforce_baseline",)
    check_choice("estimator", estimator, allowed)
    m = check_group_size(group_size)
    check_unit_interval("p_correct", p_correct)
    p = np.asarray(p_correct, np.float64).reshape(-1)
    if framework == "trl":
        return float(np.sqrt(p.mean() * (1.0 - p.mean())))
    return float(np.sqrt((m - 1.0) / m * np.mean(p * (1.0 - p))))


def scheme_names() -> list[str]:
    """Framework scheme names accepted by ``resolve_scheme`` (besides the catalog)."""
    from rlxform.frameworks.registry import FRAMEWORKS

    return [name for record in FRAMEWORKS.values() for name in record.scheme_names]


def scheme_adapter(prefix: str):
    """The ``scheme(estimator, **params)`` of the framework named ``prefix``, or None."""
    from rlxform.frameworks.registry import FRAMEWORKS

    record = FRAMEWORKS.get(prefix)
    return None if record is None or not record.scheme_names else record.rule.scheme


IMPORT_HINT = "pass --allow-import on the command line (allow_import=True in Python)"


def resolve_scheme(name: str, *, allow_import: bool = False, **params: Any) -> Scheme:
    """A scheme from a name: catalog (``grpo``), framework (``verl:grpo``, ``trl:group``,
    ``openrlhf:group_norm``) or ``module:function``, a callable fn(r, S, M) imported with
    importlib and wrapped by ``schemes.custom`` -- only with ``allow_import=True`` (importing a
    module runs its code; without it an ``InputError`` says how to allow it, nothing imported).
    ``custom_code([scheme])`` names what was imported."""
    if not isinstance(name, str) or not name:
        raise InputError(f"scheme={name!r} is invalid: must be a scheme name")
    if ":" not in name:
        return sch.get(name, **params)
    prefix, _, rest = name.partition(":")
    adapter = scheme_adapter(prefix)
    if adapter is not None:
        return adapter(rest, **params)
    if not allow_import:
        raise InputError(
            f"scheme={name!r} is a module:function scheme, not imported: importing module "
            f"{prefix!r} would run its code; {IMPORT_HINT} (catalog names such as grpo and "
            "framework names such as verl:grpo need no import)"
        )
    if params:
        raise InputError(
            f"scheme parameter {next(iter(params))!r} is invalid for {name}: a module:function "
            "scheme takes no parameters"
        )
    if not all(part.isidentifier() for part in (*prefix.split("."), rest)):
        raise InputError(
            f"scheme={name!r} is invalid: must be module:function with an absolute dotted "
            "module name and a function name (e.g. mypkg.weights:my_weight)"
        )
    try:
        module = importlib.import_module(prefix)
    except ImportError as err:
        raise InputError(
            f"scheme={name!r} is invalid: cannot import module {prefix!r} ({err}); must be a "
            f"catalog name, one of {', '.join(scheme_names())} or module:function"
        ) from None
    except Exception as err:  # the module's own code failed (SyntaxError, its raise, ...)
        raise InputError(
            f"scheme={name!r} is invalid: importing module {prefix!r} raised "
            f"{type(err).__name__}: {err}"
        ) from None
    fn = getattr(module, rest, None)
    if not callable(fn):
        raise InputError(
            f"scheme={name!r} is invalid: module {prefix!r} has no callable {rest!r} "
            "(must be fn(r, S, M) -> weight)"
        )
    return sch.custom(fn)


def custom_code(schemes: Any) -> list[str]:
    """``module:function`` of every custom scheme's function (imported with ``allow_import`` or
    given from Python), for a run's metadata and the card; [] when none runs user code."""
    names = []
    for scheme in schemes:
        fn = dict(scheme.params).get("fn")  # only a custom scheme holds a function
        if callable(fn):
            names.append(f"{getattr(fn, '__module__', '?')}:{getattr(fn, '__qualname__', fn)}")
    return names
