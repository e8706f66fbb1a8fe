"""Temporary alias of rlxform.explain.cards (removed at integration)."""

import sys

from rlxform.explain import cards as _module

sys.modules[__name__] = _module
