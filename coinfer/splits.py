"""The split points of the CIFAR ResNet18 (Shao & Zhang 2020, section II-A), by name.

A split point is where the network is cut: the device runs the stages up to it, the server the
rest. Its names are a vocabulary shared by every layer of coinfer (a :class:`~coinfer.results.Record`
is validated against them; :mod:`coinfer.core.network` splits the network at them), so they live here,
below everything, with :class:`SplitPoint`, the validated value a split point becomes where it enters.
"""

from __future__ import annotations

# Stage names in execution order; a split point is named after the stage it follows.
STAGES = (
    "stem",
    "layer1.0", "layer1.1",
    "layer2.0", "layer2.1",
    "layer3.0", "layer3.1",
    "layer4.0", "layer4.1",
    "pool",
    "fc",
)

#: Every split point, in execution order. ``input`` puts nothing on the device (server-based
#: inference: the image itself is sent); ``output`` puts everything on the device (on-device
#: inference: only the decision is sent). The others are named after the stage they follow.
SPLIT_POINTS = ("input",) + STAGES[:-1] + ("output",)

#: Other names accepted for split points: the stage names ``layer1`` to ``layer4`` mean "after the
#: stage's last block", and ``s1`` to ``s5`` are the five split points of the authors' code.
SPLIT_ALIASES = {
    "layer1": "layer1.1",
    "layer2": "layer2.1",
    "layer3": "layer3.1",
    "layer4": "layer4.1",
    "s1": "stem",
    "s2": "layer1.1",
    "s3": "layer2.1",
    "s4": "layer3.1",
    "s5": "pool",
}

#: The paper's five split points, by their canonical names.
PAPER_SPLIT_POINTS = ("stem", "layer1.1", "layer2.1", "layer3.1", "pool")


class SplitPoint(str):
    """A validated split point: a canonical name from :data:`SPLIT_POINTS`, aliases resolved.

    A split point is validated once, where it enters (a command-line argument, a public
    function); code that receives a :class:`SplitPoint` uses it as is. It is a ``str``, so it
    compares, hashes and serializes as its canonical name; ``SplitPoint(SplitPoint(x))`` returns
    the same object without checking again.

    Parameters
    ----------
    point : str
        A name from :data:`SPLIT_POINTS` or an alias from :data:`SPLIT_ALIASES` (``"layer1"`` to
        ``"layer4"``, ``"s1"`` to ``"s5"``).

    Raises
    ------
    ValueError
        If ``point`` names no split point; the message lists the valid names and aliases.

    Examples
    --------
    >>> from coinfer.splits import SplitPoint
    >>> SplitPoint("s4") == "layer3.1", SplitPoint("layer4"), SplitPoint("pool")
    (True, 'layer4.1', 'pool')
    >>> SplitPoint("input").index, SplitPoint("s3").index, SplitPoint("output").index
    (0, 5, 11)
    >>> SplitPoint("layer5")
    Traceback (most recent call last):
    ...
    ValueError: unknown split point 'layer5'; valid split points are input, stem, layer1.0, \
layer1.1, layer2.0, layer2.1, layer3.0, layer3.1, layer4.0, layer4.1, pool, output (aliases: \
layer1=layer1.1, layer2=layer2.1, layer3=layer3.1, layer4=layer4.1, s1=stem, s2=layer1.1, \
s3=layer2.1, s4=layer3.1, s5=pool)
    """

    __slots__ = ()

    def __new__(cls, point: str) -> "SplitPoint":
        if type(point) is cls:
            return point
        name = SPLIT_ALIASES.get(point, point) if isinstance(point, str) else point
        if name not in SPLIT_POINTS:
            raise ValueError(
                f"unknown split point {point!r}; valid split points are {', '.join(SPLIT_POINTS)} "
                f"(aliases: {', '.join(f'{a}={n}' for a, n in SPLIT_ALIASES.items())})"
            )
        return super().__new__(cls, name)

    @property
    def index(self) -> int:  # type: ignore[override]  # shadows str.index on purpose
        """How many stages run on the device at this point: 0 for ``input``, 11 (all) for ``output``."""
        return SPLIT_POINTS.index(str(self))
