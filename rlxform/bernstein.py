"""Temporary alias of rlxform.core.bernstein (removed at integration)."""

import sys

from rlxform.core import bernstein as _module

sys.modules[__name__] = _module
