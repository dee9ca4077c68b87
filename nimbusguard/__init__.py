"""NimbusGuard: the operator's library (clients, workflow, learner, CLI).

The Kubernetes client package is registered before anything imports it, so `kubernetes.aio`
loads without the synchronous client the package's `__init__` would import (16 MB of the
operator's memory; `nimbusguard.deferred`). The operator's entry points all import this
package first.
"""

from nimbusguard.deferred import defer_package

defer_package("kubernetes")
