"""Temporary alias of rlxform.reproduce.analytic (removed at integration)."""

import sys

from rlxform.reproduce import analytic as _module

sys.modules[__name__] = _module
