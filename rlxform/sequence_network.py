"""Temporary alias of rlxform.sim.sequence_network (removed at integration)."""

import sys

from rlxform.sim import sequence_network as _module

sys.modules[__name__] = _module
