"""Temporary alias of rlxform.sim.sweep_config (removed at integration)."""

import sys

from rlxform.sim import sweep_config as _module

sys.modules[__name__] = _module
