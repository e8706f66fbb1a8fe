"""Temporary alias of rlxform.sim.reference (removed at integration)."""

import sys

from rlxform.sim import reference as _module

sys.modules[__name__] = _module
