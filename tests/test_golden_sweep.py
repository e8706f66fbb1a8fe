"""Golden guard for sweeps: the tables of a tiny TOML sweep, bit for bit.

Covers the TOML loader, the chunked runner (per (scheme, M) chunks through ``ChunkStore``) and
``sweep_tables``. Regenerate on purpose only (version bump and a note) with
``python tests/test_golden_sweep.py``. Run in a subprocess with the user's XLA flags (the test
processes compile at optimisation level 0, tests/xla_flags.py).
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

import xla_flags

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib  # type: ignore[no-redef]

TOML = """
learning_rate = [0.3, 2.0]
group_size = [2, 4]
seeds = 2
seed = 3
steps = 12
records = 4
threshold = 0.6

[policy]
kind = "tabular"
num_prompts = 4
num_responses = 3

[population]
init_p = { beta = [1.0, 2.0] }
seed = 1

[[schemes]]
name = "reinforce"

[[schemes]]
name = "grpo"
std = "sample"
"""

# rlxform 0.3.0 and 0.4.0 (unchanged), jax 0.10.2, XLA CPU
GOLDEN = {
    "sweep.csv": "ec2330c335ff79da4fadd98c08aef3182ffd8be5214a2bba23405f1fe68ddaf6",
    "sweep_summary.csv": "67539c63ba8d6b39c21aed92c15c63c571f186ba3b1d3112f2cd45cc961c4af4",
}


def run(out: Path) -> dict[str, str]:
    from rlxform.reproduce.sweep_config import parse_sweep_config
    from rlxform.reproduce.sweep_runner import run_sweep

    run_sweep(parse_sweep_config(tomllib.loads(TOML)), out, figure=None)
    return {name: hashlib.sha256((out / name).read_bytes()).hexdigest() for name in GOLDEN}


def test_sweep_tables_bitwise_unchanged():
    assert xla_flags.json_at_user_flags(__file__) == GOLDEN


if __name__ == "__main__":
    with tempfile.TemporaryDirectory() as tmp:
        print(json.dumps(run(Path(tmp)), indent=1))
