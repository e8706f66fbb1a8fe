"""Loss modes as the simulator runs them: names, refusals, the first update's class, the twin.

A simulated loss mode is named ``framework:mode`` (``verl:gspo``, ``trl:grpo``) with settings under
the framework's own keys; ``simulated_mode(name, settings)`` reduces it (``reduce``) and refuses,
by name, what the simulator cannot run with an exact first-update reference: a first update that
is no per-answer factor of the length (verl clip_cov's random drop), and settings that need a
trainer/sampler mismatch (the simulator samples from the trained policy) or terms simulated
elsewhere (TRL ``beta``: ``kl_coef``). ``first_update`` says which plain update the first update
of a rollout equals (aggregation and constant scale); ``unclipped`` is the mode with its clips,
caps and gates opened, against which ``clipped_share`` measures what they remove. NumPy only.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from rlxform.core.loss_modes import table
from rlxform.core.loss_modes.record import LossMode
from rlxform.core.loss_modes.reduce import reduce
from rlxform.core.loss_modes.settings import SCHEMAS
from rlxform.validation import InputError, did_you_mean

MODE_NAMES = tuple(f"{fw}:{mode}" for fw, modes in table.TABLE.items() for mode in modes)
NOT_SIMULATED = {  # mode -> why its first update has no exact reference here
    "verl:clip_cov": "its first update drops randomly drawn tokens (not a per-answer factor of the "
    "length), so no exact reference can be derived",
}
SIMULATED_MODES = tuple(name for name in MODE_NAMES if name not in NOT_SIMULATED)
_MISMATCH = "needs a trainer/sampler mismatch, which the simulator does not have (it samples from "
_MISMATCH += "the trained policy)"


def _refused_setting(framework: str, mode: str, key: str, value: Any) -> str | None:
    """Why ``key=value`` cannot be simulated, or None."""
    decoupled = framework == "verl" and mode != "bypass_mode"
    if decoupled and key in ("rollout_is", "rollout_rs") and value is not None:
        return (
            f"the decoupled rollout correction {_MISMATCH}; with bypass_mode=true it reads "
            "pi_theta / pi_old instead (from the second update on)"
        )
    if framework == "trl" and key == "use_vllm" and value:
        return f"the vLLM importance-sampling correction {_MISMATCH}"
    if framework == "trl" and key == "beta" and value > 0:
        return "the loss's KL term is simulated by kl_coef (not with a loss mode)"
    if framework == "trl" and key == "top_entropy_quantile" and value < 1.0:
        return "the token filter needs token entropies, which the per-token gradient does not read"
    if framework == "openrlhf" and key == "is_correction_level" and value != "off":
        return f"the train/rollout IS correction {_MISMATCH}"
    return None


def simulated_mode(name: Any, settings: Mapping[str, Any] | None = None) -> LossMode:
    """The ``LossMode`` of ``name`` (``"framework:mode"``) with ``settings``, checked for the
    simulator. ``InputError`` names ``loss_mode`` or ``loss_settings`` (key, value, allowed)."""
    if not isinstance(name, str) or name not in MODE_NAMES:
        raise InputError(
            f"loss_mode={name!r} is invalid: must be one of {', '.join(SIMULATED_MODES)}"
            + did_you_mean(name, MODE_NAMES)
        )
    if name in NOT_SIMULATED:
        raise InputError(
            f"loss_mode={name!r} is invalid in the simulator: {NOT_SIMULATED[name]}; must be one "
            f"of {', '.join(SIMULATED_MODES)}"
        )
    framework, mode = name.split(":")
    settings = dict(settings or {})
    schema = SCHEMAS[framework]
    for key in settings:
        if key.rsplit(".", 1)[-1] not in schema:
            raise InputError(
                f"loss_settings={key}={settings[key]!r} is invalid: not a setting of {name}; "
                f"must be one of {', '.join(schema)}" + did_you_mean(key, schema)
            )
    try:
        loss_mode = reduce(framework, mode, **settings)
    except InputError as err:
        raise InputError(f"loss_settings={err}") from None
    for key, value in loss_mode.settings:
        why = _refused_setting(framework, loss_mode.mode, key, value)
        if why is not None:
            raise InputError(f"loss_settings={key}={value!r} is invalid in the simulator: {why}")
    if loss_mode.length_factor not in table.FACTORS:  # a phrase: refuse, never approximate
        raise InputError(
            f"loss_settings={dict(loss_mode.given_settings)!r} is invalid in the simulator for "
            f"{name}: the first update is {loss_mode.length_factor}"
        )
    return loss_mode


def mode_name(loss_mode: LossMode) -> str:
    """``"framework:mode"`` of a ``LossMode``."""
    return f"{loss_mode.framework}:{loss_mode.mode}"


def first_update(loss_mode: LossMode, *, width: int, answers: int) -> tuple[str, float]:
    """(aggregation, scale): at ratio 1 the mode's update is ``scale`` times the plain update with
    that aggregation (``core.aggregation``; ``seq-mean-token-sum-norm`` there divides by ``width``).

    The per-token gradient at ratio 1 is -A_i c(L_i) n_i with c the reducer's ``length_factor``;
    the plain update's seq-mean over the ``answers`` of one normalising batch gives the same up to
    the constants collected here: ``LossMode.scale`` (TRL cispo's cap), L_max (TRL
    ``max_completion_length``, verl ``loss_scale_factor``; ``width``, the padded token width, when
    unset) against ``width``, and verl's ``token-sum`` (no division by the answers: x answers).

    Args:
      width: the padded response width (the sequence task's max_length; 1 for bandits).
      answers: answers sharing one normaliser (batch_groups x M).
    """
    factor = loss_mode.length_factor
    settings = dict(loss_mode.settings)
    scale = float(loss_mode.scale)
    if factor == "1":
        uses_agg = loss_mode.framework == "verl" and loss_mode.mode not in ("sapo", "geo_mean")
        if uses_agg and settings["loss_agg_mode"] == "token-sum":
            scale *= answers
        return "seq-mean-token-sum", scale
    if factor == "1/L":
        return "seq-mean-token-mean", scale
    if factor == "1/L_max":
        if loss_mode.framework == "trl":
            l_max = settings["max_completion_length"]
        else:
            l_max = settings.get("loss_scale_factor") or width
        return "seq-mean-token-sum-norm", scale * width / float(l_max)
    if factor == "token-mean":
        return "token-mean", scale
    raise InputError(f"loss_mode={mode_name(loss_mode)!r} has no first-update class: {factor}")


_OPEN = {  # settings that open every clip, cap and gate (the ratio-weighted gradient remains)
    "verl": {
        "clip_ratio": 1e9,
        "clip_ratio_low": 1e9,
        "clip_ratio_high": 1e9,
        "clip_ratio_c": 1e9,
        "tau_pos": 1e-6,
        "tau_neg": 1e-6,
    },
    "trl": {
        "epsilon": 1e9,
        "epsilon_high": 1e9,
        "delta": None,
        "sapo_temperature_pos": 1e-6,
        "sapo_temperature_neg": 1e-6,
        "vespo_k_pos": 1.0,
        "vespo_k_neg": 1.0,
        "vespo_lambda_pos": 0.0,
        "vespo_lambda_neg": 0.0,
    },
    "openrlhf": {"eps_clip": 1e9, "eps_clip_low_high": (1e9, 1e9), "dual_clip": None},
}


@functools.lru_cache(maxsize=256)
def unclipped(loss_mode: LossMode) -> LossMode:
    """The same mode and settings with every clip, cap and soft gate opened (``_OPEN``): its
    per-token gradient is the importance-weighted one the clips act on (sapo with tau -> 0:
    4 g (1 - g) -> 1; vespo with k = 1, lambda -> 0: phi(w) -> w)."""
    settings = {**dict(loss_mode.settings), **_OPEN[loss_mode.framework]}
    return reduce(loss_mode.framework, loss_mode.mode, **settings)


def clipped_share(xp, grad, open_grad, mask) -> Any:
    """Per token, the share of the unclipped gradient the clips remove: clip(1 - g / g_open, 0, 1)
    where g_open != 0 (0 elsewhere and on padding): 1 on a hard-clipped token (PPO, GSPO, TRL's
    delta), 1 - cap / ratio on a capped one (CISPO), 1 - 4 g (1 - g) under sapo's gate."""
    live = (mask > 0) & (open_grad != 0)
    ratio = grad / xp.where(live, open_grad, 1.0)
    return xp.where(live, xp.clip(1.0 - ratio, 0.0, 1.0), 0.0)


def normalise_settings(settings: Any) -> tuple[tuple[str, Any], ...]:
    """Loss settings (a mapping or ``(key, value)`` pairs) as sorted, hashable pairs: values are
    numbers, strings, booleans, None or lists of numbers (stored as tuples)."""
    items = settings.items() if isinstance(settings, Mapping) else settings
    try:
        pairs = [(key, value) for key, value in items]
    except (TypeError, ValueError):
        raise InputError(
            f"loss_settings={settings!r} is invalid: must be a table of KEY = VALUE"
        ) from None
    out = []
    for key, value in pairs:
        if isinstance(value, list):
            value = tuple(value)
        scalar = (bool, int, float, str, type(None))
        ok = isinstance(value, scalar) or (
            isinstance(value, tuple) and all(isinstance(v, (int, float)) for v in value)
        )
        if not isinstance(key, str) or not ok:
            raise InputError(
                f"loss_settings={key}={value!r} is invalid: must be a number, string, boolean, "
                "None or a list of numbers"
            )
        out.append((key, value))
    return tuple(sorted(out))


def configure(
    name: Any, settings: Any, width: int, answers: int, dynamic_sampling: bool = False
) -> tuple[Any, tuple, str | None, tuple[LossMode | None, float]]:
    """What ``SimConfig`` stores for ``loss_mode=name, loss_settings=settings``: the mode's name,
    the normalised settings, its aggregation (None: keep the config's) and (``LossMode``,
    first-update scale). ``name`` may be a ``LossMode`` (its given settings are kept) or None."""
    if name is None:
        if settings:
            raise InputError(
                f"loss_settings={settings!r} is invalid: settings need a loss mode "
                "(loss_mode=..., e.g. 'verl:vanilla')"
            )
        return None, (), None, (None, 1.0)
    if isinstance(name, LossMode):
        if name.version != table.VERSIONS[name.framework]:
            raise InputError(
                f"loss_mode={mode_name(name)!r} of {name.framework} {name.version} is invalid: the "
                f"simulator runs {name.framework} {table.VERSIONS[name.framework]}'s loss (the "
                "per-token gradient restates the newest release only)"
            )
        settings, name = name.given_settings, mode_name(name)
    pairs = normalise_settings(settings)
    loss_mode = simulated_mode(name, dict(pairs))
    if dynamic_sampling:
        raise InputError(
            f"dynamic_sampling=True is invalid with loss_mode={name!r}: no exact reference is "
            "derived for the combination"
        )
    aggregation, scale = first_update(loss_mode, width=width, answers=answers)
    return name, pairs, aggregation, (loss_mode, scale)
