"""Temporary alias of rlxform.core.schemes (removed at integration)."""

import sys

from rlxform.core import schemes as _module

sys.modules[__name__] = _module
