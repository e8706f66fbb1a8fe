"""Temporary alias of rlxform.core.kl_audit (removed at integration)."""

import sys

from rlxform.core import kl_audit as _module

sys.modules[__name__] = _module
