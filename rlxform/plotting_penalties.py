"""Temporary alias of rlxform.plotting.penalties (removed at integration)."""

import sys

from rlxform.plotting import penalties as _module

sys.modules[__name__] = _module
