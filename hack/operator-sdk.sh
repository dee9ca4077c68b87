#!/usr/bin/env bash
# Build the pinned operator-sdk CLI (hack/tools/operator-sdk/go.mod) from the Go module proxy
# into a cache directory outside the repository, keyed by version. A second run is a no-op.
# Prints the binary's path on its last line. OPERATOR_SDK=/path/to/operator-sdk skips the build.
#
# operator-sdk refuses to start inside a project whose PROJECT file names a layout it has no
# plugin for (ours is python.nimbusguard.io/v1-alpha), so run it outside the repository root
# (hack/bundle-validate.sh runs it inside bundle/).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
module="$here/tools/operator-sdk"

if [[ -n "${OPERATOR_SDK:-}" && -x "${OPERATOR_SDK}" ]]; then
    echo "$OPERATOR_SDK"
    exit 0
fi

version=$(awk '$1=="require" && $2=="github.com/operator-framework/operator-sdk" {print $3}' "$module/go.mod")
cache_root=${NIMBUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nimbusguard}
dest="$cache_root/tools/operator-sdk-$version-$(go env GOVERSION)"
binary="$dest/operator-sdk"

if [[ -x "$binary" ]]; then
    echo "$binary"
    exit 0
fi
mkdir -p "$dest"
log=$(mktemp "${TMPDIR:-/tmp}/nimbusguard-operator-sdk.XXXXXX")
printf 'operator-sdk: building github.com/operator-framework/operator-sdk@%s (first time: minutes) ' "$version" >&2
start=$SECONDS
pkg=github.com/operator-framework/operator-sdk
ldflags="-s -w -X $pkg/internal/version.Version=$version -X $pkg/internal/version.GitVersion=$version"
# containers_image_openpgp + no cgo: operator-sdk's own build tags, so gpgme is not needed.
if ! (cd "$module" && CGO_ENABLED=0 go build -trimpath -tags containers_image_openpgp \
        -ldflags "$ldflags" -o "$binary.tmp" "$pkg/cmd/operator-sdk") >"$log" 2>&1; then
    echo >&2
    echo "operator-sdk: the build failed; the last lines of the Go output:" >&2
    tail -n 25 "$log" >&2
    echo "operator-sdk: full log: $log" >&2
    exit 1
fi
mv "$binary.tmp" "$binary"
rm -f "$log"
printf '%ds\n' "$(( SECONDS - start ))" >&2
echo "$binary"
