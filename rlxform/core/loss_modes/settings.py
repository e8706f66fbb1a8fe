"""Each trainer's loss settings: key names, defaults and checks, resolved into one mapping.

Keys are the framework's own names; a dotted path (``actor.loss_agg_mode``,
``algorithm.rollout_correction.rollout_is``) is read by its last part, and verl's
``rollout_correction={...}`` mapping is unpacked. Every value is checked here, so the reducer and
the gradients read clean settings. Bad input raises ``InputError`` naming key, value and what is
allowed. Defaults: verl ActorConfig / PolicyLossConfig / RolloutCorrectionConfig 0.9.1, TRL
GRPOConfig 1.16.0, OpenRLHF train_ppo_ray.py 0.11.2.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

from rlxform.validation import InputError, check_choice, check_float, check_int

VERL_AGG_MODES = (
    "token-mean",
    "token-sum",
    "seq-mean-token-sum",
    "seq-mean-token-mean",
    "seq-mean-token-sum-norm",
)
VERL_RS_OPTIONS = (
    "token_k1",
    "token_k2",
    "token_k3",
    "seq_sum_k1",
    "seq_sum_k2",
    "seq_sum_k3",
    "seq_mean_k1",
    "seq_mean_k2",
    "seq_mean_k3",
    "seq_max_k2",
    "seq_max_k3",
)
TRL_VLLM_MODES = ("token_truncate", "token_mask", "sequence_truncate", "sequence_mask")


def _number(low: float | None = None, high: float | None = None, *, low_open=False, optional=False):
    def check(name: str, value: Any) -> Any:
        if value is None and optional:
            return None
        return check_float(name, value, low, high, low_open=low_open)

    return check


def _choice(*allowed: Any) -> Callable[[str, Any], Any]:
    def check(name: str, value: Any) -> Any:
        if value is None and None in allowed:
            return None
        return check_choice(name, value, [a for a in allowed if a is not None])

    return check


def _flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise InputError(f"{name}={value!r} is invalid: must be true or false")
    return value


def _positive_int(name: str, value: Any) -> int:
    return check_int(name, value, 1)


def _verl_is_threshold(name: str, value: Any) -> Any:
    """verl rollout_is_threshold: t > 0 (TIS) or "lo_hi" with 0 < lo <= hi (IcePop)."""
    allowed = 'a number > 0 (TIS) or a string "lower_upper" with 0 < lower <= upper (IcePop)'
    bounds = _parse_pair(value)
    if (
        bounds is None
        or bounds[1] <= 0
        or (bounds[0] is not None and not 0 < bounds[0] <= bounds[1])
    ):
        raise InputError(f"{name}={value!r} is invalid: must be {allowed}")
    return value if isinstance(value, str) else float(value)


def _parse_pair(value: Any) -> tuple[float | None, float] | None:
    """``2.0`` -> (None, 2.0); ``"0.5_2.0"`` -> (0.5, 2.0); anything else -> None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return (None, float(value)) if math.isfinite(value) else None
    if not isinstance(value, str):
        return None
    try:
        if "_" in value:
            low, high = value.strip().split("_", 1)
            return float(low), float(high)
        return None, float(value)
    except ValueError:
        return None


def _verl_rs(name: str, value: Any) -> Any:
    if value is None:
        return None
    options = [opt.strip() for opt in str(value).split(",") if opt.strip()]
    if not isinstance(value, str) or not options:
        raise InputError(
            f"{name}={value!r} is invalid: must be None or comma-separated options of "
            + ", ".join(VERL_RS_OPTIONS)
        )
    for opt in options:
        check_choice(name, opt, VERL_RS_OPTIONS)
    return ",".join(dict.fromkeys(options))


def _verl_rs_threshold(name: str, value: Any) -> Any:
    if value is None:
        return None
    parts = (
        [p.strip() for p in str(value).split(",") if p.strip()]
        if isinstance(value, str)
        else [value]
    )
    for part in parts:
        pair = _parse_pair(part)
        if pair is None or pair[1] <= 0 or (pair[0] is not None and not 0 < pair[0] <= pair[1]):
            raise InputError(
                f"{name}={value!r} is invalid: must be positive numbers, one per rollout_rs option "
                'or one shared, "lower_upper" for the k1 options'
            )
    return value if isinstance(value, str) else float(value)


def _pair_of_numbers(name: str, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, (list, tuple)) and len(value) == 2:
        return (check_float(name, value[0], 0.0), check_float(name, value[1], 0.0))
    raise InputError(f"{name}={value!r} is invalid: must be two numbers >= 0 (low, high)")


def _is_threshold(name: str, value: Any) -> tuple[float, float]:
    """OpenRLHF is_correction_threshold: HIGH (then LOW = 0) or LOW HIGH (train_ppo_ray.py:639)."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = [value]
    if isinstance(value, (list, tuple)) and len(value) in (1, 2):
        values = [check_float(name, v) for v in value]
        return (0.0, values[0]) if len(values) == 1 else (values[0], values[1])
    raise InputError(f"{name}={value!r} is invalid: must be HIGH or [LOW, HIGH]")


_CLIP = _number(0.0)
VERL = {
    "loss_agg_mode": ("token-mean", _choice(*VERL_AGG_MODES)),
    "clip_ratio": (0.2, _CLIP),
    "clip_ratio_low": (0.2, _number(0.0, optional=True)),
    "clip_ratio_high": (0.2, _number(0.0, optional=True)),
    "clip_ratio_c": (3.0, _number(1.0, low_open=True)),
    "tau_pos": (1.0, _number(0.0, low_open=True)),
    "tau_neg": (1.05, _number(0.0, low_open=True)),
    "clip_cov_ratio": (0.0002, _number(0.0, low_open=True)),
    "clip_cov_lb": (1.0, _number()),
    "clip_cov_ub": (5.0, _number()),
    "kl_cov_ratio": (0.0002, _number(0.0, low_open=True)),
    "ppo_kl_coef": (0.1, _number()),
    "dro_beta": (None, _number(0.0, low_open=True, optional=True)),
    "loss_scale_factor": (None, _number(0.0, low_open=True, optional=True)),
    # algorithm.rollout_correction.* (RolloutCorrectionConfig)
    "rollout_is": (None, _choice(None, "token", "sequence")),
    "rollout_is_threshold": (2.0, _verl_is_threshold),
    "rollout_is_batch_normalize": (False, _flag),
    "rollout_rs": (None, _verl_rs),
    "rollout_rs_threshold": (None, _verl_rs_threshold),
    "bypass_mode": (False, _flag),
    "loss_type": ("ppo_clip", _choice("ppo_clip", "reinforce")),
}

_OPT = _number(0.0, optional=True)
TRL = {
    "importance_sampling_level": ("token", _choice("token", "sequence")),
    "epsilon": (0.2, _number(0.0)),
    "epsilon_high": (None, _number(0.0, low_open=True, optional=True)),
    "delta": (None, _number(1.0, optional=True)),
    "sapo_temperature_pos": (1.0, _number(0.0, low_open=True)),
    "sapo_temperature_neg": (1.05, _number(0.0, low_open=True)),
    "vespo_k_pos": (2.0, _number()),
    "vespo_lambda_pos": (3.0, _number()),
    "vespo_k_neg": (3.0, _number()),
    "vespo_lambda_neg": (2.0, _number()),
    "max_completion_length": (512, _positive_int),
    "beta": (0.0, _number(0.0)),
    "use_bias_correction_kl": (True, _flag),
    "use_vllm": (False, _flag),
    "vllm_importance_sampling_correction": (True, _flag),
    "vllm_importance_sampling_mode": ("sequence_mask", _choice(*TRL_VLLM_MODES)),
    "vllm_importance_sampling_clip_max": (3.0, _OPT),
    "vllm_importance_sampling_clip_min": (None, _OPT),
    "off_policy_mask_threshold": (None, _OPT),
    "top_entropy_quantile": (1.0, _number(0.0, 1.0, low_open=True)),
}

OPENRLHF = {
    "loss_agg_mode": ("token-mean", _choice("token-mean", "seq-mean-token-mean")),
    "eps_clip": (0.2, _number(0.0)),
    "eps_clip_low_high": (None, _pair_of_numbers),
    "dual_clip": (None, _number(1.0, low_open=True, optional=True)),
    "is_correction_level": ("off", _choice("off", "token", "seq")),
    "is_correction_mode": ("mask", _choice("mask", "clip")),
    "is_correction_gating": ("ratio", _choice("ratio", "binary_kl", "tv")),
    "is_correction_threshold": ((0.5, 5.0), _is_threshold),
}

SCHEMAS = {"verl": VERL, "trl": TRL, "openrlhf": OPENRLHF}
MODE_KEYS = {"verl": "loss_mode", "trl": "loss_type", "openrlhf": "policy_loss_type"}


def resolve(
    framework: str,
    mode: str,
    given: Mapping[str, Any],
    lacks: frozenset[str] = frozenset(),
    defaults: Mapping[str, Any] | None = None,
    label: str = "",
) -> tuple[dict[str, Any], tuple]:
    """Checked settings with defaults filled in, and the names given explicitly.

    ``given`` may hold the mode key itself (``loss_type`` for TRL...) when it equals ``mode``.
    ``lacks``: settings the release (``label``) does not have (passing one is an error);
    ``defaults``: the release's own defaults where they differ from the newest release's.
    """
    schema = SCHEMAS[framework]
    flat: dict[str, Any] = {}
    for key, value in given.items():
        name = key.rsplit(".", 1)[-1]
        if framework == "verl" and name == "rollout_correction":
            if not isinstance(value, Mapping):
                raise InputError(f"rollout_correction={value!r} is invalid: must be a mapping")
            for sub, sub_value in value.items():
                flat[sub.rsplit(".", 1)[-1]] = sub_value
            continue
        flat[name] = value
    mode_key = MODE_KEYS[framework]
    if mode_key in flat:
        if flat.pop(mode_key) != mode:
            raise InputError(
                f"{mode_key}={given.get(mode_key)!r} is invalid: must equal mode={mode!r}"
            )
    out = {key: default for key, (default, _) in schema.items()}
    out.update(defaults or {})
    for name, value in flat.items():
        check_choice("setting", name, schema)
        if name in lacks:
            raise InputError(f"setting={name!r} is invalid: {label} has no such setting")
        out[name] = schema[name][1](name, value)
    return out, tuple(sorted(flat))
