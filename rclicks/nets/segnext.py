"""The contract's path of the clickability network (CONTRACT §2): ``rclicks.nets.segnext``
names :class:`~rclicks.clickability.net.ClickabilityNet`, which lives with its preprocessing,
checkpoints, simulator and training in :mod:`rclicks.clickability`."""

from rclicks.clickability.net import (
    DEFAULT_NET_OPTIONS,
    MSCAN,
    NMF2D,
    ClickabilityNet,
    LightHamHead,
)

__all__ = ["ClickabilityNet", "MSCAN", "LightHamHead", "NMF2D", "DEFAULT_NET_OPTIONS"]
