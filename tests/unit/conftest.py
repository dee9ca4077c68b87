"""Unit-test settings shared by every module."""

from hypothesis import settings

# Hypothesis fails an example that takes over 200 ms by default; on a shared 2-core machine
# a slow example is the machine's load, not the code's (seen once: a flaky bounds test).
settings.register_profile("nimbusguard", deadline=None)
settings.load_profile("nimbusguard")
