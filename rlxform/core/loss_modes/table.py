"""The one table: each trainer's loss mode -> its on-policy reduction, knobs and source line.

A row says, for the first update of a rollout batch (every ratio pi_theta / pi_old exactly 1, the
sampler equal to the trainer), which per-answer factor c(L) multiplies -A_i grad log pi on every
token (``factor``: one of ``FACTORS``, or ``"agg"`` when the aggregation setting decides it), which
knobs change the gradient only from the second update on (``off_policy``), which act already on
the first (``on_policy``), and where the framework computes it. Sources are file:line in the
released wheels (verl 0.9.1, TRL 1.16.0, OpenRLHF 0.11.2), as in tests/data/loss_modes/README.md.
``reduce`` (reduce.py) reads this table and the settings rules; nothing else holds these facts.
"""

from __future__ import annotations

from typing import NamedTuple

# length_factor vocabulary (issue 24): sum over the answer's tokens; the answer's own length; a
# constant maximum length; one normaliser shared by the tokens of a batch.
FACTORS = ("1", "1/L", "1/L_max", "token-mean")
EXACT_FACTORS = ("1", "1/L_max")  # the lens E[update] = w_M(p) grad p holds exactly (SPEC 8)

VERSIONS = {"verl": "0.9.1", "trl": "1.16.0", "openrlhf": "0.11.2"}

VERL_CORE = "verl/trainer/ppo/core_algos.py"
VERL_RC = "verl/trainer/ppo/rollout_corr_helper.py"
TRL_FILE = "trl/trainer/grpo_trainer.py"
ORLHF_LOSS = "openrlhf/models/loss.py"


class ModeRow(NamedTuple):
    """One loss mode of one trainer (see the module docstring)."""

    factor: str  # a FACTORS entry, "agg" (decided by the aggregation setting) or a phrase
    off_policy: tuple[str, ...]
    on_policy: tuple[str, ...]
    source: str
    note: str


_CLIPS = ("clip_ratio", "clip_ratio_low", "clip_ratio_high")
_AGG = ("loss_agg_mode",)

# verl actor.policy_loss.loss_mode (registry core_algos.py:53)
VERL = {
    "vanilla": ModeRow(
        "agg",
        (*_CLIPS, "clip_ratio_c"),
        _AGG,
        f"{VERL_CORE}:1286",
        "PPO clip; dual clip clip_ratio_c bounds the loss of A < 0 tokens.",
    ),
    "dppo_tv": ModeRow(
        "agg",
        (*_CLIPS, "clip_ratio_c"),
        _AGG,
        f"{VERL_CORE}:1380",
        "REINFORCE on log pi with a detached ratio truncated at clip_ratio_c and a TV trust region "
        "(p - p_old against clip_ratio_low/high) that drops tokens.",
    ),
    "dppo_kl": ModeRow(
        "agg",
        (*_CLIPS, "clip_ratio_c"),
        _AGG,
        f"{VERL_CORE}:1461",
        "REINFORCE on log pi with a detached ratio truncated at clip_ratio_c and a binary-KL trust "
        "region (against clip_ratio_low/high) that drops tokens.",
    ),
    "gspo": ModeRow(
        "agg",
        ("clip_ratio_low", "clip_ratio_high"),
        _AGG,
        f"{VERL_CORE}:1546",
        "The per-token ratio has the sequence ratio's value and the token's own gradient, so "
        "on-policy it is vanilla under loss_agg_mode (token-mean by default, not the paper's "
        "seq-mean-token-mean).",
    ),
    "sapo": ModeRow(
        "1/L",
        ("tau_pos", "tau_neg"),
        (),
        f"{VERL_CORE}:1623 (seq-mean-token-mean hard-coded :1689)",
        "Soft gates 4/tau sigmoid(tau (r - 1)) have slope 1 at r = 1; loss_agg_mode is ignored.",
    ),
    "gpg": ModeRow(
        "agg",
        (),
        _AGG,
        f"{VERL_CORE}:1708",
        "-A log pi with no ratio: the same gradient at every ratio.",
    ),
    "clip_cov": ModeRow(
        "not a per-answer factor: max(1, int(clip_cov_ratio N)) tokens drawn at random among those "
        "with centred A x centred log pi in (clip_cov_lb, clip_cov_ub) get zero gradient; the rest "
        "follow loss_agg_mode",
        _CLIPS,
        ("clip_cov_ratio", "clip_cov_lb", "clip_cov_ub", "loss_agg_mode"),
        f"{VERL_CORE}:1744 (torch.randperm :1818-1828)",
        "Only the random choice is not deterministic: each candidate is dropped with probability "
        "min(1, k / candidates), which is the expected gradient rlxform computes.",
    ),
    "kl_cov": ModeRow(
        "agg",
        ("kl_cov_ratio", "ppo_kl_coef"),
        _AGG,
        f"{VERL_CORE}:1849",
        "No ratio clip at all; the top-covariance tokens get ppo_kl_coef |log r|, whose gradient "
        "is 0 at r = 1.",
    ),
    "geo_mean": ModeRow(
        "1/L",
        _CLIPS,
        (),
        f"{VERL_CORE}:1929 (mean over answers :2000)",
        "GMPO: geometric mean of token ratios clipped in log space; loss_agg_mode is ignored.",
    ),
    "dro": ModeRow(
        "agg",
        ("dro_beta",),
        _AGG,
        f"{VERL_CORE}:2015",
        "-A log pi + dro_beta/2 (log r)^2; dro_beta has no default and must be set.",
    ),
    "cispo": ModeRow(
        "agg",
        _CLIPS,
        _AGG,
        f"{VERL_CORE}:2048",
        "REINFORCE on log pi with the detached ratio clamped to [1 - low, 1 + high].",
    ),
    "bypass_mode": ModeRow(
        "agg",
        (
            "loss_type",
            "rollout_is",
            "rollout_is_threshold",
            "rollout_is_batch_normalize",
            "rollout_rs",
            "rollout_rs_threshold",
            *_CLIPS,
            "clip_ratio_c",
        ),
        _AGG,
        f"{VERL_CORE}:2414 (reinforce :2333, vanilla :1286; {VERL_RC}:786)",
        "old log-probs are the sampler's (apply_bypass_mode, rollout_corr_helper.py:1138): every "
        "ratio, IS weight and rejection reads pi_theta / pi_rollout, so a trainer/sampler mismatch "
        "makes the first update off-policy.",
    ),
}

# verl actor.loss_agg_mode (agg_loss core_algos.py:1140; lines of that file)
VERL_AGG = {
    "token-mean": ("token-mean", ":1170-1175"),
    "token-sum": ("1", ":1176-1180"),
    "seq-mean-token-sum": ("1", ":1181-1188"),
    "seq-mean-token-mean": ("1/L", ":1194-1202"),
    "seq-mean-token-sum-norm": ("1/L_max", ":1189-1192"),
}

_TRL_CLIPS = ("epsilon", "epsilon_high", "delta", "importance_sampling_level")
_TRL_SRC = f"{TRL_FILE}:3020"

# TRL GRPOConfig.loss_type (GRPOTrainer._compute_loss)
TRL = {
    "grpo": ModeRow(
        "1/L", _TRL_CLIPS, (), f"{_TRL_SRC} (:3153-3157)", "Sequence mean of token means."
    ),
    "bnpo": ModeRow(
        "token-mean",
        _TRL_CLIPS,
        (),
        f"{_TRL_SRC} (:3158-3162)",
        "Normalised by the tokens of the local micro-batch, not the generation batch.",
    ),
    "dr_grpo": ModeRow(
        "1/L_max",
        _TRL_CLIPS,
        (),
        f"{_TRL_SRC} (:3163-3167)",
        "Token sum over (answers x max_completion_length).",
    ),
    "dapo": ModeRow(
        "token-mean",
        _TRL_CLIPS,
        (),
        f"{_TRL_SRC} (:3168-3174)",
        "Normalised by num_items_in_batch, the tokens of the generation batch (TRL's default).",
    ),
    "cispo": ModeRow(
        "token-mean",
        ("importance_sampling_level",),
        (),
        f"{_TRL_SRC} (:3109-3111, :3168-3174)",
        "Weight sg(min(ratio, epsilon_high)): epsilon_high is the cap itself (not 1 + eps) and "
        "defaults to epsilon = 0.2, which scales every token by 0.2; delta and the lower clip "
        "are unused.",
    ),
    "sapo": ModeRow(
        "1/L",
        ("sapo_temperature_pos", "sapo_temperature_neg", "importance_sampling_level"),
        (),
        f"{_TRL_SRC} (:3121-3124, :3153-3157)",
        "Normalised like grpo whatever else is set; gates have slope 1 at ratio 1.",
    ),
    "luspo": ModeRow(
        "1",
        _TRL_CLIPS,
        (),
        f"{_TRL_SRC} (:3175-3180)",
        "Token sum, mean over answers; TRL warns unless importance_sampling_level = sequence.",
    ),
    "vespo": ModeRow(
        "token-mean",
        ("vespo_k_pos", "vespo_lambda_pos", "vespo_k_neg", "vespo_lambda_neg"),
        (),
        f"{_TRL_SRC} (get_gamma_weights :2972, :3125-3135)",
        "Detached gamma weight phi(w) of the summed sequence log-ratio, phi(1) = 1; "
        "importance_sampling_level, epsilon and delta have no effect.",
    ),
}

# OpenRLHF actor.policy_loss_type (PolicyLoss loss.py:116, forward :174)
OPENRLHF = {
    "ppo": ModeRow(
        "agg",
        ("eps_clip", "eps_clip_low_high", "dual_clip"),
        _AGG,
        f"{ORLHF_LOSS}:174",
        "PPO clip; dual_clip bounds the loss of A < 0 tokens.",
    ),
    "gspo": ModeRow(
        "1/L",
        ("eps_clip", "eps_clip_low_high", "dual_clip"),
        (),
        f"{ORLHF_LOSS}:174 (token_level_loss forced off :151-152; ratio :189-196)",
        "Sequence ratio exp(mean log-ratio), differentiable through every token; loss_agg_mode is "
        "ignored (always seq-mean-token-mean).",
    ),
}

# OpenRLHF actor.loss_agg_mode (aggregate_loss loss.py:11; lines of that file)
OPENRLHF_AGG = {
    "token-mean": ("token-mean", ":29-32"),
    "seq-mean-token-mean": ("1/L", ":34-39"),
}

TABLE = {"verl": VERL, "trl": TRL, "openrlhf": OPENRLHF}
AGGREGATIONS = {"verl": VERL_AGG, "trl": {}, "openrlhf": OPENRLHF_AGG}
