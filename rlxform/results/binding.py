"""Results bound to what drew them: the PRNG implementation and the devices.

A binding is ``{"prng": name, "devices": {"count", "kind", "platform", "processes"}}``
(``rlxform.runtime.run_binding``). A chunk directory's manifest and every chunk's sidecar record
it. Chunks of another PRNG are other numbers altogether: a resume under another PRNG is refused
in one line naming both, and a chunk of another PRNG is never read. Another device count or kind
changes only the last bits of float32 results (a different per-device batch may be vectorised
differently): the resume goes on with one warning line, or is refused with ``strict_devices``.
For rbg and unsafe_rbg another platform draws other numbers (they are not identical across
backends), so that is refused like another PRNG.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

# the generators whose draws depend on the backend (README: "Random number generators")
_BACKEND_DEPENDENT = ("rbg", "unsafe_rbg")


class DeviceChangeWarning(UserWarning):
    """A sweep resumed on other devices than it started on (results differ in the last bits)."""


def describe_devices(devices: Mapping[str, Any] | None) -> str:
    """``{"count": 4, "kind": "cpu", "platform": "cpu"}`` -> ``"4 cpu devices (cpu)"``."""
    if not devices:
        return "unrecorded devices"
    count = devices.get("count")
    plural = "device" if count == 1 else "devices"
    return f"{count} {devices.get('kind')} {plural} ({devices.get('platform')})"


def _same_devices(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return all(a.get(k) == b.get(k) for k in ("count", "kind", "platform"))


def check_resume(
    where: str,
    found: Mapping[str, Any],
    binding: Mapping[str, Any],
    strict_devices: bool = False,
) -> None:
    """Refuse or warn when a directory made under ``found`` is resumed under ``binding``.

    Args:
      where: what is resumed, for the message (``directory='out/chunks'``).
      found: the manifest (holds ``prng`` and ``devices`` when an rlxform >= 0.5 wrote it).
      binding: this run's ``{"prng", "devices"}``.
      strict_devices: refuse another device count or kind instead of warning.

    Raises:
      ValueError: another or an unrecorded PRNG; another platform under rbg / unsafe_rbg; other
        devices with ``strict_devices``. One line, naming both sides.
    """
    prng, old_prng = binding["prng"], found.get("prng")
    if old_prng is None:
        raise ValueError(
            f"{where} is invalid: its chunks were written by rlxform "
            f"{found.get('rlxform_version', 'of an unknown version')}, which did not record the "
            f"PRNG that drew them; this run uses {prng}: use a fresh directory"
        )
    if old_prng != prng:
        raise ValueError(
            f"{where} is invalid: its chunks were drawn with the {old_prng} PRNG and this run "
            f"uses {prng}; two generators' numbers are never mixed: rerun with --prng {old_prng} "
            f"(prng={old_prng!r}) to resume, or give a fresh directory for the {prng} run"
        )
    old, new = found.get("devices") or {}, binding["devices"]
    if _same_devices(old, new):
        return
    change = (
        f"{where} was started on {describe_devices(old)} and this run has {describe_devices(new)}"
    )
    if prng in _BACKEND_DEPENDENT and old.get("platform") != new.get("platform"):
        raise ValueError(
            f"{change}: the {prng} PRNG draws other numbers on another platform, so its chunks "
            "are not resumed here; use a fresh directory or the original platform"
        )
    if strict_devices:
        raise ValueError(
            f"{change}; --strict-devices (strict_devices=True) refuses a resume on other devices: "
            "results would differ in the last bits; use a fresh directory or the same devices"
        )
    warnings.warn(
        f"{change}: finished chunks are reused and new ones may differ from a one-device-kind run "
        "in the last bits (float32 rounding); --strict-devices refuses such a resume",
        DeviceChangeWarning,
        stacklevel=3,
    )


def summarize(bindings: list[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The distinct (prng, devices) of a sweep's chunks with how many chunks each computed."""
    out: list[dict[str, Any]] = []
    for binding in bindings:
        entry = {"prng": binding.get("prng"), "devices": binding.get("devices")}
        for seen in out:
            if seen["prng"] == entry["prng"] and seen["devices"] == entry["devices"]:
                seen["chunks"] += 1
                break
        else:
            out.append({**entry, "chunks": 1})
    return out
