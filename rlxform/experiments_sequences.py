"""Temporary alias of rlxform.reproduce.sequences (removed at integration)."""

import sys

from rlxform.reproduce import sequences as _module

sys.modules[__name__] = _module
