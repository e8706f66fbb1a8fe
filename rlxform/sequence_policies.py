"""Temporary alias of rlxform.sim.sequence_policies (removed at integration)."""

import sys

from rlxform.sim import sequence_policies as _module

sys.modules[__name__] = _module
