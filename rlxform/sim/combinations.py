"""Which traced hyperparameters a run's step path carries: checks of a (SimConfig, HParams) pair.

The KL term and the entropy bonus run with the plain update only, a loss mode sets its own clip
range. ``check_combination`` runs every check that applies; no JAX (the CLI refuses a bad
combination before importing it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from rlxform.core.filters import filters_act
from rlxform.sim.config import SimConfig
from rlxform.sim.hparams import HParams
from rlxform.validation import InputError, is_concrete


def check_combination(cfg: SimConfig, hparams: HParams) -> None:
    """The checks below that ``hparams`` calls for (a KL or entropy coefficient, a clip range)."""
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
