"""Temporary alias of rlxform.reproduce.penalties (removed at integration)."""

import sys

from rlxform.reproduce import penalties as _module

sys.modules[__name__] = _module
