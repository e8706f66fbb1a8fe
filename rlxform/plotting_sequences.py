"""Temporary alias of rlxform.plotting.sequences (removed at integration)."""

import sys

from rlxform.plotting import sequences as _module

sys.modules[__name__] = _module
