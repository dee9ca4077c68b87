"""nimbusguard.io/v1: the ScalingPolicy API."""

from api.v1 import groupversion_info, scalingpolicy_types

__all__ = ["groupversion_info", "scalingpolicy_types"]
