"""Ctrl-C and SIGTERM from the first instant (issue 26, item 3): one line, exit 130 / 143.

The guard is installed by ``rlxform/__init__`` (through ``cli_guard``, stdlib only) before NumPy
or JAX import, in the ``rlxform`` command's process only. A ``sitecustomize`` on the child's path
pauses the import of a chosen module (``RLXFORM_TEST_PAUSE_AT``) and says so on stderr; the signal
is sent exactly then: while ``rlxform/__init__`` imports NumPy, just before and in the middle of
``import jax``, and at fixed delays after the interpreter is up. Compile-time signals:
tests/test_cli_guards.py (slow set).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from rlxform import cli_guard

ROOT = Path(__file__).parents[1]
LINE = f"rlxform: {cli_guard.INTERRUPTED}"
SIMULATE = ("simulate", "--scheme", "grpo", "--steps", "2", "--seeds", "1")

HOOK = textwrap.dedent(
    """
    import os, sys, time

    TARGET = os.environ.get("RLXFORM_TEST_PAUSE_AT")


    class Pause:
        def find_spec(self, name, path=None, target=None):
            if name == "rlxform.cli_guard":  # the first statement of rlxform/__init__
                os.write(2, b"@started\\n")
            if name == TARGET:
                sys.meta_path.remove(self)
                os.write(2, b"@paused\\n")
                time.sleep(60)
            return None


    sys.meta_path.insert(0, Pause())
    """
)

CONSOLE_SCRIPT = "import sys\nfrom rlxform.cli import main\nsys.exit(main())\n"


@pytest.fixture(scope="module")
def hook_dir(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("hook")
    (path / "sitecustomize.py").write_text(HOOK)
    (path / "bin").mkdir()
    (path / "bin" / "rlxform").write_text(CONSOLE_SCRIPT)  # as pip writes the entry point
    return path


def _signal_child(hook_dir, out, sig, pause_at=None, delay=0.0, script=False):
    """Start ``rlxform simulate``; at the pause (or ``delay`` s after start) send ``sig``."""
    env = {**os.environ, "PYTHONPATH": f"{hook_dir}{os.pathsep}{ROOT}", "JAX_PLATFORMS": "cpu"}
    env.pop("RLXFORM_TEST_PAUSE_AT", None)
    if pause_at:
        env["RLXFORM_TEST_PAUSE_AT"] = pause_at
    entry = [str(hook_dir / "bin" / "rlxform")] if script else ["-m", "rlxform"]
    proc = subprocess.Popen(
        [sys.executable, *entry, *SIMULATE, "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    marker = "@paused" if pause_at else "@started"
    seen = []
    for line in proc.stderr:  # block until the child reaches the marker
        seen.append(line)
        if line.strip() == marker:
            break
    time.sleep(delay)
    proc.send_signal(sig)
    out_text, rest = proc.communicate(timeout=120)
    return proc.returncode, out_text, "".join(seen) + rest


# numpy: inside rlxform/__init__ (before the CLI module); jax: the run's first JAX import;
# jax._src.xla_bridge: JAX half imported
@pytest.mark.parametrize("pause_at", ["numpy", "jax", "jax._src.xla_bridge"])
def test_sigint_while_importing_is_one_line_and_130(hook_dir, tmp_path, pause_at):
    code, out, err = _signal_child(hook_dir, tmp_path, signal.SIGINT, pause_at)
    lines = [line for line in err.splitlines() if not line.startswith("@")]
    assert (code, lines, out) == (130, [LINE], ""), err
    assert not (tmp_path / "trajectories.csv").exists()


def test_sigterm_while_importing_jax_is_one_line_and_143(hook_dir, tmp_path):
    code, _, err = _signal_child(hook_dir, tmp_path, signal.SIGTERM, "jax._src.xla_bridge")
    assert (code, [x for x in err.splitlines() if not x.startswith("@")]) == (143, [LINE]), err


def test_console_script_is_guarded_from_its_first_import(hook_dir, tmp_path):
    code, _, err = _signal_child(hook_dir, tmp_path, signal.SIGINT, "numpy", script=True)
    assert (code, [x for x in err.splitlines() if not x.startswith("@")]) == (130, [LINE]), err


@pytest.mark.parametrize("delay", [0.05, 0.15, 0.3, 0.6])
def test_sigint_at_fixed_delays_never_a_traceback_or_0(hook_dir, tmp_path, delay):
    """Delays after rlxform's first statement (the guard's import, a few ms): one line, 130."""
    code, _, err = _signal_child(hook_dir, tmp_path, signal.SIGINT, delay=delay)
    assert (code, [x for x in err.splitlines() if not x.startswith("@")]) == (130, [LINE]), err


def test_guard_only_in_the_command_process():
    assert cli_guard.launched_as_cli(["/venv/bin/rlxform", "simulate"])
    assert cli_guard.launched_as_cli(["-m", "simulate"])  # python -m rlxform, while locating it
    assert not cli_guard.launched_as_cli(["/venv/bin/pytest", "-q"])
    assert not cli_guard.launched_as_cli(["-c"])
    assert not cli_guard.launched_as_cli([])
    assert not cli_guard._process_guard  # importing rlxform under pytest installed nothing
    # Python's own handler, or SIG_IGN where pytest-xdist's worker process set it
    assert signal.getsignal(signal.SIGINT) in (signal.default_int_handler, signal.SIG_IGN)
