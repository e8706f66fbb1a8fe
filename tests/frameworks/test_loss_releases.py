"""The reducer's releases (rlxform.core.loss_modes.releases) against the extracted version data.

The releases table was written from the loss code of each wheel; the version tables
(rlxform/frameworks/data/*.json, checked against tests/data/frameworks by
test_version_data.py) were extracted from the config schemas of the same wheels. Two routes, so
they must agree: a setting the reducer says a release lacks is a key that release does not have
(but for the modes and corrections it deliberately leaves unreduced), and the defaults the
reducer uses for a release are that release's defaults. Pure Python.
"""

from __future__ import annotations

import pytest

from rlxform.core.loss_modes import settings
from rlxform.core.loss_modes.releases import RELEASES, release
from rlxform.frameworks import FRAMEWORKS
from rlxform.frameworks.openrlhf import OPENRLHF_LOSS_KEYS
from rlxform.frameworks.trl import TRL_LOSS_KEYS
from rlxform.frameworks.verl import VERL_LOSS_KEYS

KEYS = {"verl": VERL_LOSS_KEYS, "trl": TRL_LOSS_KEYS, "openrlhf": OPENRLHF_LOSS_KEYS}
_COV = {"clip_cov_ratio", "clip_cov_lb", "clip_cov_ub", "kl_cov_ratio", "ppo_kl_coef"}
_RC = {"rollout_is", "rollout_is_threshold", "rollout_is_batch_normalize", "rollout_rs"}
_RC |= {"rollout_rs_threshold", "bypass_mode"}
# settings a release has but the reducer does not take there: verl <= 0.6 is reduced for its
# vanilla loss only (clip_cov / kl_cov knobs belong to modes not reduced), and 0.6.1's rollout
# correction is an earlier design (rollout_token_veto_threshold, use_policy_gradient, ...)
UNREDUCED = {("verl", v): _COV for v in ("0.4.1", "0.5.0")} | {("verl", "0.6.1"): _COV | _RC}
# settings the reducer takes although the release names them otherwise: OpenRLHF 0.8.11's
# enable_vllm_is_correction / vllm_is_truncated_threshold read as 0.11.2's level, mode, threshold
RENAMED = {("openrlhf", "0.8.11"): {"is_correction_mode"}}
ALL = [(fw, v) for fw in KEYS for v in RELEASES[fw]]


@pytest.mark.parametrize(("framework", "version"), ALL)
def test_what_a_release_lacks_is_what_its_config_lacks(framework, version):
    rel = release(framework, version)
    table = FRAMEWORKS[framework].tables()[version]
    lacks_present, has_absent = set(), set()
    for name in settings.SCHEMAS[framework]:
        key = KEYS[framework].get(name)
        present = key is not None and table.has(key)
        if name in rel.lacks and present:
            lacks_present.add(name)
        if name not in rel.lacks and not present and key is not None:
            has_absent.add(name)
    assert lacks_present == UNREDUCED.get((framework, version), set())
    assert has_absent == RENAMED.get((framework, version), set())


@pytest.mark.parametrize(("framework", "version"), ALL)
def test_the_reducer_uses_each_releases_own_defaults(framework, version):
    """Besides OpenRLHF's correction before 0.11.2, whose enable/type pair the reader maps."""
    rel = release(framework, version)
    table = FRAMEWORKS[framework].tables()[version]
    for name, (default, _) in settings.SCHEMAS[framework].items():
        key = KEYS[framework].get(name)
        if name in rel.lacks or key is None or not table.has(key):
            continue
        if framework == "openrlhf" and name.startswith("is_correction") and version != "0.11.2":
            continue
        mine = rel.defaults.get(name, default)
        mine = list(mine) if isinstance(mine, tuple) else mine
        assert mine == table.default(key), (version, name)


def test_release_lists_and_sources():
    assert RELEASES["trl"][0] == "0.14.0" and RELEASES["trl"][-1] == "1.16.0"
    for framework, version in ALL:
        rel = release(framework, version)
        assert rel.modes and all(".py:" in source for source in rel.modes.values())
    # the loss function's line moves from release to release; spot checks read in the wheels
    assert release("trl", "0.18.2").modes["grpo"].endswith(":1332 (:1379-1380)")
    assert release("trl", "1.0.0").modes["luspo"].endswith(":2258 (:2403-2407)")
    assert release("verl", "0.8.0").modes["cispo"].endswith("core_algos.py:2007")
    assert release("openrlhf", "0.10.4").modes["ppo"].endswith(":155 (aggregate_loss :29-32)")
