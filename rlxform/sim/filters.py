"""The filters of ``rlxform.core.filters`` inside one simulator step.

Static switches in ``SimConfig`` (``vllm_mode``, ``mask_truncated``, ``overlong``,
``entropy_filter``: sequence policies) and traced numbers in ``HParams`` (``vllm_cap``,
``vllm_cap_min``, ``mismatch_mean``, ``mismatch_sd``, ``overlong_buffer``, ``overlong_factor``,
``entropy_quantile``, ``range_low``, ``range_high``; None takes the default of
``FILTER_DEFAULTS``). ``filter_state`` is None when no filter acts, and then the estimator runs
the program of a run without filters. With filters one step (``filtered_gradient``) is

    loss = reduce_b sum_{n, t} sg(c_bn w_bnt) log pi(y_bnt | y_bn,<t)

with c_bn the scheme's coefficient (``group_loss.group_coefficients``; real rewards r +
overlong penalty through the scheme's real-reward form; 0 for a truncated answer under
mask_truncated, whose tokens also leave the token-mean normaliser), w_bnt the vLLM weight of
per-token log-ratios d ~ N(mu, sigma^2) drawn here (``core.filters.vllm_weights``) times the
entropy mask (prefix entropy >= the batch quantile of the loss tokens' entropies), and
reduce_b the mean over groups, or over the groups that ``dynamic_sampling`` keeps: with a range
low < S / M < high (OpenRLHF's dynamic_filtering_range; bandits, as dynamic sampling).
The mismatch noise has its own key (``fold_in`` of the sampling key): the groups drawn are
those of the same run without filters.
"""

from __future__ import annotations

from typing import Any

import jax
import jax.numpy as jnp

from rlxform.core import filters as core_filters
from rlxform.core.sequences import PAD
from rlxform.sim import group_loss
from rlxform.sim.config import SimConfig
from rlxform.sim.hparams import HParams
from rlxform.sim.policies import Group, Policy, combine, partition
from rlxform.types import Array, PRNGKey, PyTree
from rlxform.validation import InputError

FILTER_DEFAULTS = {
    "vllm_cap": core_filters.TRL_VLLM_CAP,
    "mismatch_mean": core_filters.MISMATCH_MEAN,
    "mismatch_sd": core_filters.MISMATCH_SD,
    "overlong_factor": 1.0,
    "entropy_quantile": 0.2,  # the value the paper recommends (TRL's docs); TRL's default 1 is off
}
NOISE_STREAM = 0x5F17  # fold_in constant of the mismatch noise key


def static_active(cfg: SimConfig) -> bool:
    """A filter switch of the static config is on."""
    return core_filters.filters_act(cfg)


def _value(hparams: Any, name: str) -> Any:
    value = getattr(hparams, name)
    return FILTER_DEFAULTS.get(name) if value is None else value


def _range(hparams: HParams) -> tuple[Any, Any]:
    """(low, high) of dynamic sampling's range, None taking the whole (0, 1)."""
    low = 0.0 if hparams.range_low is None else hparams.range_low
    high = 1.0 if hparams.range_high is None else hparams.range_high
    return low, high


def filter_state(cfg: SimConfig, hparams: HParams) -> HParams | None:
    """``hparams`` as the filters read them, or None when no filter acts (the plain program):
    the numbers of the active filters with ``FILTER_DEFAULTS`` for None, those of the filters
    that are off set to None.

    InputError for settings the simulator does not combine: a missing overlong buffer, a
    range without dynamic sampling, filters with a KL term or PPO's inner loop.
    """
    ranged = hparams.range_low is not None or hparams.range_high is not None
    if not static_active(cfg) and not ranged:
        return None
    if ranged and not cfg.dynamic_sampling:
        raise InputError(
            "range_low/range_high are invalid without dynamic_sampling=True: the range says "
            "which groups dynamic sampling keeps"
        )
    if hparams.kl_coef is not None:
        raise InputError("kl_coef is invalid with filters: the KL term runs without filters")
    if cfg.is_ppo:
        raise InputError(
            f"ppo_epochs={cfg.ppo_epochs!r} is invalid with filters: filters run with the plain "
            "update (ppo_epochs = num_minibatches = 1)"
        )
    if cfg.overlong and hparams.overlong_buffer is None:
        raise InputError(
            "overlong_buffer=None is invalid with overlong=True: must be the buffer length in "
            f"tokens, in (0, max_length={cfg.problem.max_length}]"
        )
    low, high = _range(hparams)
    return hparams._replace(
        vllm_cap=_value(hparams, "vllm_cap") if cfg.vllm_mode else None,
        vllm_cap_min=hparams.vllm_cap_min if cfg.vllm_mode else None,
        mismatch_mean=_value(hparams, "mismatch_mean") if cfg.vllm_mode else None,
        mismatch_sd=_value(hparams, "mismatch_sd") if cfg.vllm_mode else None,
        overlong_buffer=hparams.overlong_buffer if cfg.overlong else None,
        overlong_factor=_value(hparams, "overlong_factor") if cfg.overlong else None,
        entropy_quantile=_value(hparams, "entropy_quantile") if cfg.entropy_filter else None,
        range_low=low if cfg.dynamic_sampling else None,
        range_high=high if cfg.dynamic_sampling else None,
    )


def kept_groups(s: Array, cfg: SimConfig, state: HParams) -> Array | None:
    """Groups kept by dynamic sampling: low < S / M < high; None without dynamic sampling."""
    if not cfg.dynamic_sampling:
        return None
    return core_filters.range_keep(s, cfg.group_size, state.range_low, state.range_high)


def stopped(group: Group, stop: int) -> Array:
    """``bool[B, M]``: the answer's last token is the stop token (it was not truncated)."""
    last = jnp.take_along_axis(group.tokens, (group.lengths - 1)[..., None], axis=-1)[..., 0]
    return last == stop


def _coefficients(group: Group, cfg: SimConfig, a_table, b_table, state: HParams):
    """(c ``float[B, N]``, S): the scheme's coefficients with shaped rewards and truncation."""
    z = None
    if cfg.overlong:
        penalty = core_filters.overlong_penalty(
            group.lengths, cfg.problem.max_length, state.overlong_buffer, state.overlong_factor
        )
        rewards = group.rewards.astype(penalty.dtype) + penalty
        z = cfg.scheme.real_reward_weights(rewards, None, cfg.group_size, state.eps)
    if not cfg.mask_truncated:
        return group_loss.group_coefficients(group, a_table, b_table, cfg, z)
    keep = stopped(group, cfg.problem.task.stop)
    counted = group
    if cfg.aggregation == "token-mean":  # truncated answers leave the normaliser (TRL :2498)
        counted = group._replace(lengths=jnp.where(keep, group.lengths, 0))
    coef, s = group_loss.group_coefficients(counted, a_table, b_table, cfg, z)
    return jnp.where(keep, coef, 0.0), s


def token_filter_weights(
    key: PRNGKey,
    params: PyTree,
    policy: Policy,
    group: Group,
    cfg: SimConfig,
    state: HParams,
) -> Array | None:
    """w ``float[B, M, L]`` of the vLLM correction and the entropy mask, or None (neither)."""
    if not cfg.vllm_mode and not cfg.entropy_filter:
        return None
    live = group.tokens != PAD
    weights = live.astype(jnp.float32)
    if cfg.vllm_mode:
        noise = jax.random.normal(key, group.tokens.shape, jnp.float32)
        log_ratios = state.mismatch_mean + state.mismatch_sd * noise
        weights = weights * core_filters.vllm_weights(
            cfg.vllm_mode, log_ratios, live, state.vllm_cap, state.vllm_cap_min
        )
    if cfg.entropy_filter:
        entropies = jax.lax.stop_gradient(policy.token_entropy(params, group))
        counted = live
        if cfg.mask_truncated:  # TRL: the quantile is over the loss mask's tokens
            counted = live & stopped(group, cfg.problem.task.stop)[..., None]
        threshold = core_filters.masked_quantile(entropies, counted, 1.0 - state.entropy_quantile)
        weights = weights * (jnp.where(live, entropies, 0.0) >= threshold)
    return weights


def filtered_gradient(
    key: PRNGKey,
    params: PyTree,
    prompts: Array | None,
    policy: Policy,
    cfg: SimConfig,
    a_table: Array,
    b_table: Array,
    state: HParams,
) -> tuple[PyTree, Array]:
    """One step direction g with filters (module docstring); returns (g, S ``int32[B]``)."""
    trainable, frozen = partition(params)
    group = policy.sample(key, params, prompts, cfg.group_size)
    coef, s = _coefficients(group, cfg, a_table, b_table, state)
    keep = kept_groups(s, cfg, state)
    noise_key = jax.random.fold_in(key, NOISE_STREAM)
    weights = token_filter_weights(noise_key, params, policy, group, cfg, state)
    if weights is None:

        def loss(tr: PyTree) -> Array:
            return group_loss.surrogate(policy.log_prob(combine(tr, frozen), group), coef, keep)

    else:
        per_token = (coef[..., None] * weights).reshape(coef.shape[0], -1)

        def loss(tr: PyTree) -> Array:
            tokens, _ = policy.token_log_prob(combine(tr, frozen), group)
            return group_loss.surrogate(tokens.reshape(coef.shape[0], -1), per_token, keep)

    return jax.grad(loss)(trainable), s


def check_exact(cfg: SimConfig) -> None:
    """InputError: exact ascent is not derived for the sequence filters (their exact update
    at fixed params is ``rlxform.core.filter_updates.FilteredRule.expected_update``)."""
    if static_active(cfg):
        on = [
            name
            for name in ("vllm_mode", "mask_truncated", "overlong", "entropy_filter")
            if getattr(cfg, name)
        ]
        raise InputError(
            f"{on[0]}={getattr(cfg, on[0])!r} has no exact ascent reference: the exact expected "
            "update at fixed params is rlxform.core.filter_updates.FilteredRule.expected_update"
        )


def range_mean_step(cfg: SimConfig, policy: Policy, a_table, b_table, hparams, plain):
    """Exact mean step of dynamic sampling with a range (bandits), else ``plain(cfg, policy,
    a_table, b_table)`` (the reference's own): grad of sum_x sg(c_x w°(p_x)) p_x, w° the
    Bernstein weight of the range-masked tables and c_x = E[1 / (1 + N_-x)] over the groups
    kept among the others (``core.dynamic``)."""
    from rlxform.core import bernstein as bern
    from rlxform.core import dynamic

    if filter_state(cfg, hparams) is None:
        return plain(cfg, policy, a_table, b_table)

    low, high = _range(hparams)
    m = cfg.group_size

    def step_fn(params, _):
        trainable, frozen = partition(params)

        def surrogate(tr):
            p = policy.p_correct(combine(tr, frozen))
            fixed = jax.lax.stop_gradient(p)
            a_kept, b_kept = core_filters.range_tables(
                a_table.astype(p.dtype), b_table.astype(p.dtype), low, high
            )
            weight = bern.bernstein(a_kept[1:] - b_kept[:-1], fixed)
            kept = core_filters.range_kept_probability(fixed, m, low, high)
            if cfg.batch == cfg.problem.num_prompts:
                factor = dynamic.full_batch_factor(kept)
            else:
                factor = dynamic.uniform_batch_factor(kept, cfg.batch)
            return jnp.sum(jax.lax.stop_gradient(factor * weight) * p), p

        grads, p = jax.grad(surrogate, has_aux=True)(trainable)
        return grads, jnp.mean(p**m + (1.0 - p) ** m)

    return step_fn
