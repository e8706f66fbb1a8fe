"""The math behind each card section, shipped as text: ``rlxform explain --topic NAME``.

Topics are the ``topics/*.md`` files of this package (objective, lens, aggregation, kl, entropy,
dynamic, ppo, batch_std, rewards, knobs). Every card section names the topic that explains it.
"""

from __future__ import annotations

from importlib import resources

from rlxform.validation import InputError, did_you_mean


def topic_names() -> list[str]:
    """The topics shipped with the package, sorted."""
    folder = resources.files("rlxform.explain").joinpath("topics")
    return sorted(p.name[:-3] for p in folder.iterdir() if p.name.endswith(".md"))


def topic_text(name: str) -> str:
    """The text of topic ``name``; InputError listing the topics when there is no such topic."""
    names = topic_names()
    if name not in names:
        raise InputError(
            f"--topic={name!r} is invalid: must be one of {', '.join(names)}"
            + did_you_mean(name, names)
        )
    return resources.files("rlxform.explain").joinpath("topics", f"{name}.md").read_text()


def pointer(name: str) -> str:
    """The line a card section ends with: where its math is explained."""
    return f"(The math: `rlxform explain --topic {name}`.)"
