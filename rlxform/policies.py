"""Temporary alias of rlxform.sim.policies (removed at integration)."""

import sys

from rlxform.sim import policies as _module

sys.modules[__name__] = _module
