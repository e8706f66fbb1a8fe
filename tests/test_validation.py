"""Every check_* helper raises the one input-error type, a ValueError subclass."""

import pytest

import rlxform
from rlxform import validation as v


@pytest.mark.parametrize(
    "call",
    [
        lambda: v.check_int("n", 1.5),
        lambda: v.check_int("n", 5, 0, 3),
        lambda: v.check_group_size(0),
        lambda: v.check_float("x", float("nan")),
        lambda: v.check_float("x", 1e-50, float32=True),
        lambda: v.check_unit_interval("p", [0.5, 1.5]),
        lambda: v.check_choice("scheme", "grop", ["grpo", "rloo"]),
        lambda: v.check_seed("seed", -1),
        lambda: v.real_array("a", ["x"]),
    ],
)
def test_checks_raise_input_error(call):
    with pytest.raises(rlxform.InputError, match="is invalid"):
        call()


def test_input_error_is_value_error_and_message_unchanged():
    assert issubclass(rlxform.InputError, ValueError)
    with pytest.raises(ValueError, match=r"^group_size=0 is invalid: must be an integer in \[1, "):
        v.check_group_size(0)
    with pytest.raises(v.InputError, match="did you mean 'grpo'"):
        v.check_choice("scheme", "grop", ["grpo", "rloo"])


PUBLIC_MODULES = {  # rlxform.<name> (public attribute, as in 0.3.0) -> the module it now is
    "bernstein": "core.bernstein",
    "schemes": "core.schemes",
    "frameworks": "frameworks",
    "dynamic": "core.dynamic",
    "kl": "core.kl",
    "kl_audit": "core.kl_audit",
    "ppo": "core.ppo",
    "batch_norm": "core.batch_norm",
    "policies": "sim.policies",
    "simulate": "sim.simulate",
    "exact": "sim.exact",
    "sequences": "core.sequences",
    "sweeps": "sim.sweeps",
}


@pytest.mark.parametrize(("name", "module"), PUBLIC_MODULES.items())
def test_public_module_attributes_are_the_moved_modules(name, module):
    """``rlxform.<name>`` (exported in ``__all__``) is the module ``rlxform.<module>``."""
    import importlib

    import rlxform

    assert name in rlxform.__all__
    assert getattr(rlxform, name) is importlib.import_module(f"rlxform.{module}")
