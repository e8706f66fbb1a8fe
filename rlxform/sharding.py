"""Temporary alias of rlxform.sim.sharding (removed at integration)."""

import sys

from rlxform.sim import sharding as _module

if __name__ == "__main__":  # python -m rlxform.sharding (deprecated: rlxform sweep)
    raise SystemExit(_module.main())
sys.modules[__name__] = _module
