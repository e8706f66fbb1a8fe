"""Which traced hyperparameters a run's step path carries: checks of a (SimConfig, HParams) pair.

The KL term and the entropy bonus run with the plain update only, a loss mode sets its own clip
range, a filter's number needs its filter switched on. ``check_combination`` runs every check that
applies; no JAX (the CLI refuses a bad combination before importing it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core.filters import filters_act
from rlxform.sim.config import SimConfig
from rlxform.sim.hparams import HParams
from rlxform.validation import InputError, check_float, is_concrete


def check_combination(cfg: SimConfig, hparams: HParams) -> None:
    """The checks below that ``hparams`` calls for (a KL or entropy coefficient, a clip range,
    a filter's number)."""
    check_filter_numbers(cfg, hparams)
    if hparams.kl_coef is not None:
        check_kl_combination(cfg)
    check_loss_mode_hparams(cfg, hparams)
    if hparams.entropy_coef is not None:
        check_entropy_combination(cfg, hparams)


def check_kl_combination(cfg: SimConfig) -> None:
    """InputError for a KL term with PPO's inner loop (E N > 1), a loss mode or std_scope !=
    "group" (the KL term is not wired into those step paths yet)."""
    if cfg.loss_mode is not None:
        raise InputError(
            f"kl_coef is invalid with loss_mode={cfg.loss_mode!r}: the KL term runs with the "
            "default surrogate only"
        )
    if cfg.is_ppo:
        raise InputError(
            f"kl_coef is invalid with ppo_epochs={cfg.ppo_epochs!r}, "
            f"num_minibatches={cfg.num_minibatches!r}: the KL term runs with the plain update "
            "only (ppo_epochs = num_minibatches = 1)"
        )
    if cfg.std_scope != "group":
        raise InputError(
            f"kl_coef is invalid with std_scope={cfg.std_scope!r}: the KL term runs with "
            "std_scope='group' only"
        )


def check_loss_mode_hparams(cfg: SimConfig, hparams: HParams) -> None:
    """InputError for the default surrogate's clip range (HParams) given with a loss mode."""
    if cfg.loss_mode is None:
        return
    for name in ("clip_low", "clip_high", "dual_clip"):
        value = getattr(hparams, name)
        if value is not None:
            concrete = is_concrete(value) and np.ndim(value) == 0
            shown = f"{name}={float(np.asarray(value))!r}" if concrete else name
            raise InputError(
                f"{shown} is invalid with loss_mode={cfg.loss_mode!r}: the mode's own "
                "settings set its clip range (loss_settings=KEY=VALUE, e.g. clip_ratio_high, "
                "epsilon_high)"
            )


def check_entropy_combination(cfg: SimConfig, hparams: Any = None) -> None:
    """InputError for an entropy bonus with PPO's inner loop (E N > 1), ``std_scope="batch"`` or
    a filter that acts (``core.filters.filters_act``): those step paths do not carry the term."""
    if filters_act(cfg, hparams):
        raise InputError(
            "entropy_coef is invalid with a filter that acts (vllm_mode, mask_truncated, "
            "overlong, entropy_filter, a range filter): the filtered step does not carry the "
            "entropy bonus; run the bonus without filters"
        )
    if cfg.is_ppo:
        raise InputError(
            f"entropy_coef is invalid with ppo_epochs={cfg.ppo_epochs!r}, "
            f"num_minibatches={cfg.num_minibatches!r}: the entropy bonus runs with the plain "
            "update only (ppo_epochs = num_minibatches = 1)"
        )
    if cfg.std_scope == "batch":
        raise InputError(
            "entropy_coef is invalid with std_scope='batch': the batch std would rescale the "
            "entropy bonus too (use std_scope 'group' or 'none')"
        )


# the filter each traced number belongs to: (SimConfig switch, its name on the command line)
FILTER_SWITCHES = {
    "vllm_cap": "vllm_mode",
    "vllm_cap_min": "vllm_mode",
    "mismatch_mean": "vllm_mode",
    "mismatch_sd": "vllm_mode",
    "overlong_buffer": "overlong",
    "overlong_factor": "overlong",
    "entropy_quantile": "entropy_filter",
    "range_low": "dynamic_sampling",
    "range_high": "dynamic_sampling",
}


def check_filter_numbers(cfg: SimConfig, hparams: HParams) -> None:
    """InputError for a filter's number given while its filter is off (it would be ignored), an
    overlong buffer longer than max_length and a dynamic-sampling range that keeps no group
    (S / M lies in [0, 1])."""
    for name, switch in FILTER_SWITCHES.items():
        value = getattr(hparams, name)
        if value is not None and not getattr(cfg, switch):
            shown = _shown(name, value)
            raise InputError(
                f"{shown} is invalid with {switch}={getattr(cfg, switch)!r}: that filter is off, "
                "so the number would be ignored; turn the filter on or drop the number"
            )
    buffer = hparams.overlong_buffer
    if cfg.overlong and buffer is not None and is_concrete(buffer):
        top = cfg.problem.max_length  # verl asserts 0 < buffer <= max response length
        for value in np.asarray(buffer, np.float64).reshape(-1):
            check_float("overlong_buffer", value.item(), 0.0, float(top), low_open=True)
    for name, empty, side in (("range_high", 0.0, "above 0"), ("range_low", 1.0, "below 1")):
        value = getattr(hparams, name)
        if value is None or not is_concrete(value):
            continue
        values = np.asarray(value, np.float64).reshape(-1)
        bad = values[values <= empty] if side == "above 0" else values[values >= empty]
        if bad.size:
            raise InputError(
                f"{name}={bad[0].item()!r} is invalid: dynamic sampling would keep no group "
                f"(a group is kept when range_low < S/M < range_high, S/M in [0, 1]); must be "
                f"{side}"
            )


def _shown(name: str, value: Any) -> str:
    concrete = is_concrete(value) and np.ndim(value) == 0
    return f"{name}={float(np.asarray(value))!r}" if concrete else name
