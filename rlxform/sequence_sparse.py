"""Temporary alias of rlxform.sim.sequence_sparse (removed at integration)."""

import sys

from rlxform.sim import sequence_sparse as _module

sys.modules[__name__] = _module
