"""Temporary alias of rlxform.sim.sequences (removed at integration)."""

import sys

from rlxform.sim import sequences as _module

sys.modules[__name__] = _module
