"""Temporary alias of rlxform.sim.sweeps (removed at integration)."""

import sys

from rlxform.sim import sweeps as _module

sys.modules[__name__] = _module
