"""Temporary alias of rlxform.sim.sweep_runner (removed at integration)."""

import sys

from rlxform.sim import sweep_runner as _module

sys.modules[__name__] = _module
