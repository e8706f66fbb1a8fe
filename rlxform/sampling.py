"""Temporary alias of rlxform.sim.sampling (removed at integration)."""

import sys

from rlxform.sim import sampling as _module

sys.modules[__name__] = _module
