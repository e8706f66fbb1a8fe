"""The releases the reducer covers, and what each does differently from the newest one.

``table.py`` describes the newest release of each trainer (verl 0.9.1, TRL 1.16.0, OpenRLHF
0.11.2). A ``Release`` says, for one older release whose loss code was read in its PyPI wheel:
which modes it has and where (file:line in that wheel), where its aggregations are, which
settings it lacks (passing one is an error), the defaults that differ, and ``traits``: the
behaviours that differ from the newest release (the rules in ``reduce.py`` read them):

- trl ``fixed_grpo`` / ``fixed_bnpo`` (0.14-0.15 / 0.16): no ``loss_type``; the loss is the
  per-sequence token mean / the micro-batch token mean; ``no_clip`` (0.14-0.15): the ratio is
  exp(log pi - sg(log pi)) = 1 at every step, so nothing acts off-policy; ``luspo_times_l``
  (0.28-1.9): luspo multiplies each token by its answer's length L and takes the mean over the
  padded (B, T) batch (padding included) unless ``importance_sampling_level`` is sequence;
  ``vllm_cap`` (0.23-1.5): the vLLM correction has one bound, ``vllm_importance_sampling_cap``
  (readers pass it as ``vllm_importance_sampling_clip_max``).
- verl ``gspo_seq_mean`` (0.7-0.8): gspo hard-codes seq-mean-token-mean; ``tis_only`` (0.7):
  ``rollout_is_threshold`` is a number (no "lower_upper" IcePop form).
- openrlhf ``seq_mean`` (0.6): each answer's token mean, then the mean over answers;
  ``token_mean`` (0.7-0.11.1): the token mean, whatever the mode (gspo: per answer).

Releases not listed here are refused by ``reduce`` (their readers keep the keys "unmodelled").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple

from rlxform.core.loss_modes import table
from rlxform.validation import InputError
from rlxform.validation import check_choice as _check_choice


class Release(NamedTuple):
    """One release of a trainer as the reducer reads it (see the module docstring)."""

    framework: str
    version: str
    modes: Mapping[str, str]  # mode -> source of its loss in this release
    agg: Mapping[str, str]  # loss_agg_mode -> source lines (verl, OpenRLHF 0.11.2)
    lacks: frozenset[str] = frozenset()  # reducer settings this release does not have
    defaults: Mapping[str, Any] = {}  # settings whose default differs from the newest release
    traits: frozenset[str] = frozenset()
    extra: Mapping[str, str] = {}  # named sources: "rc" (verl), "vespo" (TRL), "is" (OpenRLHF)

    @property
    def label(self) -> str:
        return f"{self.framework} {self.version}"


def _key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.replace(".post", ".").split("."))


# ---- TRL: trl/trainer/grpo_trainer.py, GRPOTrainer._compute_loss (compute_loss up to 0.16) -----

_T = table.TRL_FILE
# release: (line of the loss function, {mode: lines of its aggregation branch},
#           {mode: lines of its per-token loss branch, for the modes that have their own})
_TRL_LINES: dict[str, tuple[int, dict, dict]] = {
    "0.17.0": (1189, {"grpo": (1219, 1220), "bnpo": (1221, 1222), "dr_grpo": (1223, 1224)}, {}),
    "0.18.2": (1332, {"grpo": (1379, 1380), "bnpo": (1381, 1382), "dr_grpo": (1383, 1384)}, {}),
    "0.19.1": (1366, {"grpo": (1404, 1405), "bnpo": (1406, 1407), "dr_grpo": (1408, 1409)}, {}),
    "0.20.0": (1818, {"grpo": (1888, 1889), "bnpo": (1890, 1891), "dr_grpo": (1892, 1893)}, {}),
    "0.21.0": (1818, {"grpo": (1888, 1889), "bnpo": (1890, 1891), "dr_grpo": (1892, 1893)}, {}),
    "0.22.2": (1541, {"grpo": (1611, 1613), "bnpo": (1614, 1616), "dr_grpo": (1617, 1619),
                      "dapo": (1620, 1622)}, {}),
    "0.23.1": (1622, {"grpo": (1698, 1700), "bnpo": (1701, 1703), "dr_grpo": (1704, 1706),
                      "dapo": (1707, 1709)}, {}),
    "0.24.0": (1652, {"grpo": (1730, 1732), "bnpo": (1733, 1735), "dr_grpo": (1736, 1738),
                      "dapo": (1739, 1741)}, {}),
    "0.25.1": (1763, {"grpo": (1841, 1843), "bnpo": (1844, 1846), "dr_grpo": (1847, 1849),
                      "dapo": (1850, 1852)}, {}),
    "0.26.2": (2121, {"grpo": (2226, 2228), "sapo": (2226, 2228), "bnpo": (2229, 2231),
                      "dr_grpo": (2232, 2234), "cispo": (2235, 2237), "dapo": (2235, 2237)},
               {"cispo": (2191, 2193), "sapo": (2203, 2212)}),
    "0.27.2": (2236, {"grpo": (2358, 2361), "sapo": (2358, 2361), "bnpo": (2362, 2365),
                      "dr_grpo": (2366, 2369), "cispo": (2370, 2372), "dapo": (2370, 2372)},
               {"cispo": (2320, 2322), "sapo": (2332, 2341)}),
    "0.28.0": (1952, {"grpo": (2068, 2071), "sapo": (2068, 2071), "bnpo": (2072, 2075),
                      "dr_grpo": (2076, 2079), "cispo": (2080, 2082), "dapo": (2080, 2082),
                      "luspo": (2083, 2087)}, {"cispo": (2036, 2038), "sapo": (2048, 2051)}),
    "0.29.1": (2108, {"grpo": (2225, 2228), "sapo": (2225, 2228), "bnpo": (2229, 2232),
                      "dr_grpo": (2233, 2236), "cispo": (2237, 2239), "dapo": (2237, 2239),
                      "luspo": (2240, 2244)}, {"cispo": (2193, 2195), "sapo": (2205, 2208)}),
}  # fmt: skip
# 1.x: (function, grpo/sapo, bnpo, dr_grpo, cispo/dapo/vespo, luspo, per-token cispo, sapo,
# vespo, the vespo/vLLM-mode check); each branch spans the line given to the next one's - 1
_TRL_1X = {
    "1.0.0": (2258, 2388, 2392, 2396, 2400, 2403, 2407, 2344, 2356, 2360, 2371, 584),
    "1.1.0": (2526, 2656, 2660, 2664, 2668, 2671, 2675, 2612, 2624, 2628, 2639, 601),
    "1.2.0": (2424, 2554, 2558, 2562, 2566, 2569, 2573, 2510, 2522, 2526, 2537, 610),
    "1.3.0": (2418, 2548, 2552, 2556, 2560, 2563, 2567, 2504, 2516, 2520, 2531, 607),
    "1.4.0": (2437, 2567, 2571, 2575, 2579, 2582, 2586, 2523, 2535, 2539, 2550, 618),
    "1.5.1": (2436, 2566, 2570, 2574, 2578, 2581, 2585, 2522, 2534, 2538, 2549, 618),
    "1.6.0": (2489, 2619, 2623, 2627, 2631, 2634, 2638, 2575, 2587, 2591, 2602, 619),
    "1.7.1": (2653, 2786, 2790, 2794, 2798, 2801, 2805, 2742, 2754, 2758, 2769, 729),
    "1.8.0": (2857, 2990, 2995, 3000, 3005, 3009, 3014, 2946, 2958, 2962, 2973, 844),
    "1.9.2": (2991, 3124, 3129, 3134, 3139, 3146, 3151, 3080, 3092, 3096, 3107, 911),
    "1.10.0": (3061, 3194, 3199, 3204, 3209, 3216, 3223, 3150, 3162, 3166, 3177, 924),
    "1.11.0": (3109, 3242, 3247, 3252, 3257, 3264, 3271, 3198, 3210, 3214, 3225, 924),
    "1.12.0": (3109, 3242, 3247, 3252, 3257, 3264, 3271, 3198, 3210, 3214, 3225, 924),
    "1.13.0": (3113, 3246, 3251, 3256, 3261, 3268, 3275, 3202, 3214, 3218, 3229, 928),
    "1.14.2": (3091, 3224, 3229, 3234, 3239, 3246, 3253, 3180, 3192, 3196, 3207, 935),
    "1.15.0": (2946, 3079, 3084, 3089, 3094, 3101, 3108, 3035, 3047, 3051, 3062, 913),
}
_TRL_LATER = {  # settings each release gained (absent before it): (first release, keys)
    "epsilon": "0.16", "epsilon_high": "0.16", "delta": "0.18",
    "importance_sampling_level": "0.20", "top_entropy_quantile": "0.20",
    "use_vllm": "0.14", "vllm_importance_sampling_correction": "0.23",
    "vllm_importance_sampling_clip_max": "0.23", "vllm_importance_sampling_mode": "0.26",
    "vllm_importance_sampling_clip_min": "1.6", "off_policy_mask_threshold": "0.27",
    "sapo_temperature_pos": "0.26", "sapo_temperature_neg": "0.26",
    "vespo_k_pos": "1.0", "vespo_lambda_pos": "1.0", "vespo_k_neg": "1.0",
    "vespo_lambda_neg": "1.0", "use_bias_correction_kl": "0.26",
}  # fmt: skip


def _span(first: int, last: int) -> str:
    return f":{first}" if first == last else f":{first}-{last}"


def _trl_release(version: str) -> Release:
    key = _key(version)
    lacks = frozenset(k for k, first in _TRL_LATER.items() if key < _key(first))
    defaults: dict[str, Any] = {}
    if key < (0, 19):
        defaults["beta"] = 0.04
    if key < (1, 10):
        defaults.update(max_completion_length=256, use_bias_correction_kl=False)
    if key < (0, 26):
        defaults["vllm_importance_sampling_mode"] = "token_truncate"  # the only rule until 0.26
        defaults["vllm_importance_sampling_clip_max"] = 2.0  # vllm_importance_sampling_cap
    if key < (0, 23):
        defaults["vllm_importance_sampling_correction"] = False  # no correction before 0.23
    traits = set()
    if (0, 23) <= key < (1, 6):
        traits.add("vllm_cap")
    if (0, 28) <= key < (1, 10):
        traits.add("luspo_times_l")
    if key < (0, 16):
        fixed = {"0.14.0": 512, "0.15.2": 713}[version]
        return Release("trl", version, {"grpo": f"{_T}:{fixed}"}, {}, lacks, defaults,
                       frozenset({*traits, "fixed_grpo", "no_clip"}))  # fmt: skip
    if key < (0, 17):
        modes = {"bnpo": f"{_T}:932"}  # compute_loss :900, the token mean :932
        return Release("trl", version, modes, {}, lacks, defaults, frozenset({"fixed_bnpo"}))
    extra = {}
    if version in _TRL_LINES:
        head, agg, tok = _TRL_LINES[version]
    else:
        head, g, b, d, c, lu, end, tc, ts, tv, tend, check = _TRL_1X[version]
        agg = {"grpo": (g, b - 1), "sapo": (g, b - 1), "bnpo": (b, d - 1), "dr_grpo": (d, c - 1)}
        agg.update(dict.fromkeys(("cispo", "dapo", "vespo"), (c, lu - 1)), luspo=(lu, end))
        tok = {"cispo": (tc, tc + 2), "sapo": (ts, tv - 1), "vespo": (tv, tend)}
        extra["vespo"] = f"{_T}:{check}-{check + 5}"
    modes = {}
    for mode, (first, last) in agg.items():
        inner = f"{_span(*tok[mode])[1:]}, :" if mode in tok else ""
        modes[mode] = f"{_T}:{head} (:{inner}{_span(first, last)[1:]})"
    return Release("trl", version, modes, {}, lacks, defaults, frozenset(traits), extra)


# ---- verl: verl/trainer/ppo/core_algos.py -----------------------------------------------------

_V = table.VERL_CORE
_VERL_COMMON = ("gpg", "dppo_tv", "dppo_kl", "sapo", "clip_cov", "kl_cov", "geo_mean", "cispo")
_VERL_07 = ("vanilla", *_VERL_COMMON, "gspo", "bypass_mode", "_reinforce")


def _lines(*lines: int) -> dict[str, int]:
    return dict(zip(_VERL_07, lines, strict=True))


_VERL_RELEASES = {  # release: ({mode: line}, agg_loss {mode: lines}, rollout_corr_helper lines)
    "0.4.1": ({"vanilla": 560}, {"token-mean": (539, 540), "seq-mean-token-sum": (541, 543),
              "seq-mean-token-mean": (544, 546), "seq-mean-token-sum-norm": (547, 549)}, None),
    "0.5.0": ({"vanilla": 722}, {"token-mean": (701, 702), "seq-mean-token-sum": (703, 705),
              "seq-mean-token-mean": (706, 708), "seq-mean-token-sum-norm": (709, 711)}, None),
    "0.6.1": ({"vanilla": 888}, {"token-mean": (787, 788), "seq-mean-token-sum": (789, 792),
              "seq-mean-token-mean": (793, 797), "seq-mean-token-sum-norm": (798, 800)}, None),
    "0.7.1": (_lines(1277, 1698, 1371, 1452, 1613, 1734, 1839, 1919, 2005, 1537, 2348, 2267),
              {"token-mean": (1166, 1171), "seq-mean-token-sum": (1172, 1179),
               "seq-mean-token-mean": (1185, 1193), "seq-mean-token-sum-norm": (1172, 1184)},
              (716, 481, 156)),
    "0.8.0": (_lines(1279, 1700, 1373, 1454, 1615, 1736, 1841, 1921, 2007, 1539, 2352, 2271),
              {"token-mean": (1168, 1173), "seq-mean-token-sum": (1174, 1181),
               "seq-mean-token-mean": (1187, 1195), "seq-mean-token-sum-norm": (1174, 1186)},
              (779, 520, 195)),
}  # fmt: skip
_VERL_LATER = {  # settings verl gained: first release
    "clip_cov_ratio": "0.7", "clip_cov_lb": "0.7", "clip_cov_ub": "0.7", "kl_cov_ratio": "0.7",
    "ppo_kl_coef": "0.7", "tau_pos": "0.7", "tau_neg": "0.7", "loss_scale_factor": "0.7",
    "rollout_is": "0.7", "rollout_is_threshold": "0.7", "rollout_is_batch_normalize": "0.7",
    "rollout_rs": "0.7", "rollout_rs_threshold": "0.7", "bypass_mode": "0.7", "loss_type": "0.7",
    "dro_beta": "0.9",
}  # fmt: skip


def _verl_release(version: str) -> Release:
    key = _key(version)
    lines, agg_lines, rc = _VERL_RELEASES[version]
    modes = {}
    for mode, line in lines.items():
        if mode == "bypass_mode":
            modes[mode] = (
                f"{_V}:{line} (reinforce :{lines['_reinforce']}, vanilla :{lines['vanilla']}; "
                f"{table.VERL_RC}:{rc[0]})"
            )
        elif mode == "gspo":
            modes[mode] = f"{_V}:{line} (seq-mean-token-mean hard-coded in its agg_loss call)"
        elif mode != "_reinforce":
            modes[mode] = f"{_V}:{line}"
    agg = {name: _span(*span) for name, span in agg_lines.items()}
    lacks = frozenset(k for k, first in _VERL_LATER.items() if key < _key(first))
    traits = {"gspo_seq_mean"} if key >= (0, 7) else set()
    if key < (0, 8):
        traits.add("tis_only")
    extra = {}
    if rc is not None:
        extra["rc"] = f"{table.VERL_RC}:{rc[0]} (weights :{rc[1]}, rejection :{rc[2]})"
    return Release("verl", version, modes, agg, lacks, {}, frozenset(traits), extra)


# ---- OpenRLHF: openrlhf/models/loss.py, PolicyLoss.forward ------------------------------------

_O = table.ORLHF_LOSS
_ORLHF_RELEASES = {  # release: (forward, aggregation lines, gspo ratio, IS correction lines)
    "0.6.4": (65, (76, 76), None, None),
    "0.7.5": (85, (96, 100), None, None),
    "0.8.11": (107, (150, 154), 118, (145, 148)),
    "0.9.10": (114, (175, 179), 125, (152, 173)),
    "0.10.1.post2": (114, (175, 179), 125, (152, 173)),
    "0.10.2": (114, (175, 179), 125, (152, 173)),
    "0.10.4": (155, (29, 32), 170, (198, 219)),
    "0.11.0": (155, (29, 32), 170, (197, 218)),
    "0.11.1": (155, (29, 32), 170, (197, 218)),
}
_ORLHF_IS = (
    "is_correction_level",
    "is_correction_mode",
    "is_correction_gating",
    "is_correction_threshold",
)


def _openrlhf_release(version: str) -> Release:
    key = _key(version)
    forward, (first, last), gspo, correction = _ORLHF_RELEASES[version]
    where = "aggregate_loss " if key >= (0, 10, 4) else ""
    modes = {"ppo": f"{_O}:{forward} ({where}{_span(first, last)})"}
    if gspo is not None:
        modes["gspo"] = f"{_O}:{forward} (token_level_loss forced off; ratio :{gspo})"
    lacks = {"loss_agg_mode"}
    if key < (0, 8):
        lacks |= {"eps_clip_low_high", "dual_clip", *_ORLHF_IS}
    else:
        lacks.add("is_correction_gating")  # the ratio is the only statistic before 0.11.2
    defaults: dict[str, Any] = {}
    if (0, 8) <= key < (0, 9):
        defaults["is_correction_threshold"] = (0.0, 2.0)  # vllm_is_truncated_threshold = 2
    traits = {"seq_mean" if key < (0, 7) else "token_mean"}
    extra = {} if correction is None else {"is": f"{_O}:{_span(*correction)[1:]}"}
    return Release("openrlhf", version, modes, {}, frozenset(lacks), defaults,
                   frozenset(traits), extra)  # fmt: skip


# ---- the newest releases, from table.py ---------------------------------------------------------


def _newest(framework: str) -> Release:
    rows = table.TABLE[framework]
    agg = {name: source for name, (_, source) in table.AGGREGATIONS[framework].items()}
    extra = {
        "verl": {"rc": f"{table.VERL_RC}:786 (weights :522, rejection :197)"},
        "trl": {"vespo": f"{table.TRL_FILE}:936-941"},
        "openrlhf": {"is": f"{table.ORLHF_LOSS}:216-241"},
    }[framework]
    modes = {mode: row.source for mode, row in rows.items()}
    return Release(framework, table.VERSIONS[framework], modes, agg, extra=extra)


_BUILDERS = {"trl": _trl_release, "verl": _verl_release, "openrlhf": _openrlhf_release}
_OLDER = {
    "trl": ("0.14.0", "0.15.2", "0.16.1", *_TRL_LINES, *_TRL_1X),
    "verl": tuple(_VERL_RELEASES),
    "openrlhf": tuple(_ORLHF_RELEASES),
}
RELEASES: dict[str, tuple[str, ...]] = {
    fw: (*versions, table.VERSIONS[fw]) for fw, versions in _OLDER.items()
}
_CACHE: dict[tuple[str, str], Release] = {}


def release(framework: str, version: str | None = None) -> Release:
    """The ``Release`` of ``framework`` ``version`` (None: the newest the table describes)."""
    _check_choice("framework", framework, table.TABLE)
    version = table.VERSIONS[framework] if version is None else version
    if version not in RELEASES[framework]:
        raise InputError(
            f"version={version!r} is invalid: must be one of {', '.join(RELEASES[framework])} "
            f"(the {framework} releases whose loss code the reducer covers)"
        )
    cached = _CACHE.get((framework, version))
    if cached is None:
        newest = version == table.VERSIONS[framework]
        cached = _newest(framework) if newest else _BUILDERS[framework](version)
        _CACHE[(framework, version)] = cached
    return cached
