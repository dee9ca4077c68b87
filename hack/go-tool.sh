#!/usr/bin/env bash
# Build a pinned Go tool from the Go module proxy into a cache directory outside the repository,
# keyed by tool, version and Go version (its own key: the other caches stay valid). A second
# run is a no-op. Prints the binary's path on its last line.
#
#   hack/go-tool.sh operator-sdk   its cmd/operator-sdk             (hack/tools/operator-sdk/go.mod)
#   hack/go-tool.sh helm           helm.sh/helm/v3/cmd/helm         (hack/tools/helm/go.mod)
#   hack/go-tool.sh opm            operator-registry's cmd/opm      (hack/tools/opm/go.mod)
#
# OPERATOR_SDK=, HELM= or OPM=/path/to/binary skips the build. The helm and opm modules pin
# operator-sdk's module graph and all three build with the same flags, so helm and opm reuse
# the packages the operator-sdk build compiled (seconds instead of minutes).
set -euo pipefail

name=${1:?usage: $0 operator-sdk|helm|opm}
here=$(cd "$(dirname "$0")" && pwd)
module_dir="$here/tools/$name"

case "$name" in
    operator-sdk)
        module=github.com/operator-framework/operator-sdk
        pkg=github.com/operator-framework/operator-sdk/cmd/operator-sdk
        override=${OPERATOR_SDK:-}
        ;;
    helm)
        module=helm.sh/helm/v3
        pkg=helm.sh/helm/v3/cmd/helm
        override=${HELM:-}
        ;;
    opm)
        module=github.com/operator-framework/operator-registry
        pkg=github.com/operator-framework/operator-registry/cmd/opm
        override=${OPM:-}
        ;;
    *) echo "usage: $0 operator-sdk|helm|opm" >&2; exit 2 ;;
esac

if [[ -n "$override" && -x "$override" ]]; then
    echo "$override"
    exit 0
fi

# The version of $module in go.mod, in a require block or on a `require` line of its own.
version=$(awk -v m="$module" '$1==m && $2 ~ /^v/ {print $2; exit}
    $1=="require" && $2==m {print $3; exit}' "$module_dir/go.mod")
cache_root=${NIMBUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nimbusguard}
dest="$cache_root/tools/$name-$version-$(go env GOVERSION)"
binary="$dest/$name"

if [[ -x "$binary" ]]; then
    echo "$binary"
    exit 0
fi
mkdir -p "$dest"
log=$(mktemp "${TMPDIR:-/tmp}/nimbusguard-$name.XXXXXX")
printf '%s: building %s@%s (first time: minutes) ' "$name" "$module" "$version" >&2
start=$SECONDS
ldflags="-s -w"
case "$name" in
    operator-sdk) ldflags="$ldflags -X $module/internal/version.Version=$version"
                  ldflags="$ldflags -X $module/internal/version.GitVersion=$version" ;;
    helm) ldflags="$ldflags -X helm.sh/helm/v3/internal/version.version=$version" ;;
esac
# operator-sdk's own build tags (no cgo, openpgp instead of gpgme, so no gpgme library);
# one set of flags for all three, so their shared packages compile once.
if ! (cd "$module_dir" && CGO_ENABLED=0 go build -trimpath -tags containers_image_openpgp \
        -ldflags "$ldflags" -o "$binary.tmp" "$pkg") >"$log" 2>&1; then
    echo >&2
    echo "$name: the build failed; the last lines of the Go output:" >&2
    tail -n 25 "$log" >&2
    echo "$name: full log: $log" >&2
    exit 1
fi
mv "$binary.tmp" "$binary"
rm -f "$log"
printf '%ds\n' "$(( SECONDS - start ))" >&2
echo "$binary"
