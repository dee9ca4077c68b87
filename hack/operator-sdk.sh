#!/usr/bin/env bash
# Build the pinned operator-sdk CLI (hack/tools/operator-sdk/go.mod) from the Go module proxy
# into a cache directory outside the repository, keyed by version. A second run is a no-op.
# Prints the binary's path on its last line. OPERATOR_SDK=/path/to/operator-sdk skips the build.
#
# operator-sdk refuses to start inside a project whose PROJECT file names a layout it has no
# plugin for (ours is python.nimbusguard.io/v1-alpha), so run it outside the repository root
# (hack/bundle-validate.sh runs it inside bundle/).
set -euo pipefail

# The build itself (cache key operator-sdk-<version>-<go version>) is hack/go-tool.sh's.
exec "$(cd "$(dirname "$0")" && pwd)/go-tool.sh" operator-sdk
