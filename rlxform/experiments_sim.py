"""Temporary alias of rlxform.reproduce.simulation (removed at integration)."""

import sys

from rlxform.reproduce import simulation as _module

sys.modules[__name__] = _module
