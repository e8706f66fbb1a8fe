"""A key the chosen release lacks, written where the trainer's own loader reads it, stops the
launch: the card says so (Not modelled and the lens), not that the key "may change the update".

Facts (release file:line): TRL 0.15.2's GRPOConfig has no num_iterations (added in 0.16.1,
trl/trainer/grpo_config.py:267) and 0.16.1 no loss_type (0.17.0 grpo_config.py:345); TRL's
scripts parse flags with TrlParser.parse_args_and_config (trl/scripts/grpo.py:181 in 1.16.0),
i.e. HfArgumentParser.parse_args_into_dataclasses, which raises "Some specified arguments are
not used by the HfArgumentParser" (transformers 4.56.2 hf_argparser.py:367); a dataclass's
__init__ raises TypeError on an unknown keyword. verl 0.6.1's actor config has no
loss_scale_factor (0.7.1 verl/trainer/config/actor/actor.yaml:86); main_ppo is a @hydra.main
(verl/trainer/main_ppo.py:166 in 0.9.1), and Hydra refuses an override of a key the struct
config lacks ("Could not override", hydra-core 1.3.8 config_loader_impl.py:389-395) but appends
a +key. OpenRLHF 0.6.4 has no --dynamic_filtering (0.8.11 cli/train_ppo_ray.py:457) and reads
its flags with parser.parse_args() (0.6.4 train_ppo_ray.py:434), argparse's 'unrecognized
arguments' exit, except a word abbreviating exactly one flag (allow_abbrev):
--n_samples_per is 0.6.4's --n_samples_per_prompt (:333), its only flag with that start.
"""

from __future__ import annotations

import pytest

from rlxform.explain.cards import explain
from rlxform.frameworks import FRAMEWORKS, read_config
from rlxform.frameworks.inputs import find_runs
from rlxform.frameworks.refusals import refusal

TRL = "accelerate launch -m trl.scripts.grpo --num_generations 8 --reward_funcs accuracy"
VERL = ("python3 -m verl.trainer.main_ppo algorithm.adv_estimator=grpo "
        "actor_rollout_ref.rollout.n=4 ")  # fmt: skip
OPENRLHF = ("python3 -m openrlhf.cli.train_ppo_ray --advantage_estimator group_norm "
            "--n_samples_per_prompt 4 --pretrain m ")  # fmt: skip


def _item(card: dict, key: str) -> dict:
    (item,) = [i for i in card["not_modelled"] if i["key"] == key]
    return item


def _lens(card: dict) -> str:
    return " ".join(card["lens"]["breaks"])


@pytest.mark.parametrize(
    ("command", "version", "key", "says"),
    [
        (TRL + " --num_iterations 2", "0.15.2", "num_iterations",
         "'Some specified arguments are not used by the HfArgumentParser'"),
        (VERL + "actor_rollout_ref.actor.loss_scale_factor=2", "0.6.1",
         "actor_rollout_ref.actor.loss_scale_factor", "Hydra stops the launch before training"),
        (OPENRLHF + "--dynamic_filtering", "0.6.4", "dynamic_filtering",
         "'unrecognized arguments'"),
    ],
)  # fmt: skip
def test_a_key_of_another_release_stops_the_launch(command, version, key, says):
    card = explain([command], version=version).to_json()
    item = _item(card, key)
    assert item["refused"] is True and says in item["effect"]
    assert f"not of {card['version']}'s config" in item["effect"]
    lens = _lens(card)
    assert f"key(s) {card['version']} does not have ({key}): its loader refuses them" in lens
    assert "may change the update" not in lens


def test_a_config_call_with_a_key_the_release_lacks_raises_type_error(tmp_path):
    script = tmp_path / "train.py"
    script.write_text(
        "from trl import GRPOConfig, GRPOTrainer\n"
        "args = GRPOConfig(output_dir='o', num_generations=8, loss_type='dr_grpo')\n"
        "GRPOTrainer(model='m', reward_funcs=[lambda completions, **kw: [1.0]], args=args)\n"
    )
    card = explain(script, version="0.16.1").to_json()
    item = _item(card, "loss_type")
    assert item["refused"] is True and "GRPOConfig(...) raises TypeError" in item["effect"]


def test_where_the_loader_takes_the_key_no_refusal_is_said():
    # Hydra appends +key; a mapping has no loader; argparse reads an abbreviation as its flag
    card = explain([VERL + "+actor_rollout_ref.actor.loss_scale_factor=2"], version="0.6.1")
    item = _item(card.to_json(), "actor_rollout_ref.actor.loss_scale_factor")
    assert "refused" not in item
    run = read_config({"num_generations": 8, "num_iterations": 2}, "trl", version="0.15.2")
    assert "refused" not in _item({"not_modelled": run.not_modelled}, "num_iterations")
    record = FRAMEWORKS["openrlhf"]

    class S:  # a launch of --n_samples_per at 0.6.4 (found words as the reader keeps them)
        table = record.tables()["0.6.4"]
        found = find_runs([OPENRLHF + "--n_samples_per 4"])[0]

    assert refusal(record, S, "n_samples_per") is None
    assert refusal(record, S, "dynamic_filtering") is None  # not on this command line
