"""Temporary alias of rlxform.explain.conclusions (removed at integration)."""

import sys

from rlxform.explain import conclusions as _module

sys.modules[__name__] = _module
