"""Temporary alias of rlxform.core.frameworks (removed at integration)."""

import sys

from rlxform.core import frameworks as _module

sys.modules[__name__] = _module
