"""Group, version and names of the nimbusguard.io/v1 API (kubebuilder's groupversion_info)."""

from __future__ import annotations

from typing import Final

GROUP: Final = "nimbusguard.io"
VERSION: Final = "v1"
API_VERSION: Final = f"{GROUP}/{VERSION}"

KIND: Final = "ScalingPolicy"
PLURAL: Final = "scalingpolicies"
SINGULAR: Final = "scalingpolicy"
LIST_KIND: Final = "ScalingPolicyList"
# `sp` is not used by any built-in resource; the category lets `kubectl get nimbusguard` list ours.
SHORT_NAMES: Final = ("sp",)
CATEGORIES: Final = ("nimbusguard",)
