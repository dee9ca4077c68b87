#!/usr/bin/env bash
# Build the real node's binaries from the Go module proxy into a cache directory outside the
# repository, keyed by version: the kubelet from the same k8s.io/kubernetes as the control plane
# (hack/tools/k8s, so the packages the control-plane build compiled are reused), containerd 2.x
# with ctr and its runc shim (hack/tools/containerd; kubelet 1.36+ does not support Debian's
# containerd 1.6). runc and the CNI plugins come from Debian (hack/install-container-tools.sh).
#
# Prints the directory holding the binaries on its last line. A second run is a no-op.
#
#   hack/realnode-binaries.sh            build what is missing, print the directory
#   hack/realnode-binaries.sh --check    build nothing; print it, or exit 1 naming what is missing
set -euo pipefail

check_only=false
case "${1:-}" in
    --check) check_only=true ;;
    "") ;;
    *) echo "usage: $0 [--check]" >&2; exit 2 ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
tools="$here/tools"
# shellcheck source=hack/gomod.sh
. "$here/gomod.sh"
K8S_VERSION=$(required "$tools/k8s/go.mod" k8s.io/kubernetes)
CONTAINERD_VERSION=$(required "$tools/containerd/go.mod" github.com/containerd/containerd/v2)
cache_root=${NIMBUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nimbusguard}
dest="$cache_root/realnode/kubelet$K8S_VERSION-containerd$CONTAINERD_VERSION-$(go env GOVERSION)"

binaries=(kubelet containerd containerd-shim-runc-v2 ctr)
missing() { local b; for b in "${binaries[@]}"; do [[ -x "$dest/$b" ]] || echo "$b"; done; }

lacking=$(missing)
if [[ -z "$lacking" ]]; then
    echo "$dest"
    exit 0
fi
if $check_only; then
    echo "realnode-binaries: $dest lacks:" $lacking "(run \`make envtest\` to build them)" >&2
    exit 1
fi
mkdir -p "$dest"

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/nimbusguard-realnode.XXXXXX")
fail() {
    echo "FAILED" >&2
    echo "realnode-binaries: building $1 failed; the last lines of the Go output:" >&2
    tail -n 25 "$2" >&2
    echo "realnode-binaries: full log: $2" >&2
    exit 1
}
step() { printf 'realnode-binaries: %-40s' "$1" >&2; }
done_in() { printf '%4ds\n' "$(( SECONDS - $1 ))" >&2; }
export CGO_ENABLED=0

if [[ ! -x "$dest/kubelet" ]]; then
    minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
    ldf="-s -w"
    # The same stamping and tags as hack/envtest.sh: shared packages compile once.
    for kv in "gitVersion=$K8S_VERSION" gitMajor=1 "gitMinor=$minor" gitTreeState=clean \
              gitCommit=0000000000000000000000000000000000000000 \
              "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
        ldf="$ldf -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
    done
    start=$SECONDS
    step "kubelet (k8s.io/kubernetes@$K8S_VERSION)"
    (cd "$tools/k8s" && go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldf" \
        -o "$dest/kubelet.tmp" k8s.io/kubernetes/cmd/kubelet) \
        >"$log_dir/kubelet.log" 2>&1 || fail "kubelet@$K8S_VERSION" "$log_dir/kubelet.log"
    mv "$dest/kubelet.tmp" "$dest/kubelet"
    done_in "$start"
fi

if [[ ! -x "$dest/containerd" || ! -x "$dest/ctr" || ! -x "$dest/containerd-shim-runc-v2" ]]; then
    pkg=github.com/containerd/containerd/v2
    ldf="-s -w -X $pkg/version.Version=$CONTAINERD_VERSION -X $pkg/version.Package=$pkg"
    # No cgo: no btrfs (needs cgo), devmapper or zfs snapshotters; overlayfs is what we use.
    tags="no_btrfs no_devmapper no_zfs no_tracing urfave_cli_no_docs osusergo netgo static_build"
    start=$SECONDS
    step "containerd, ctr, shim ($CONTAINERD_VERSION)"
    (cd "$tools/containerd" \
        && go build -trimpath -tags "$tags" -ldflags "$ldf" -o "$dest/containerd.tmp" "$pkg/cmd/containerd" \
        && go build -trimpath -tags "$tags" -ldflags "$ldf" -o "$dest/ctr.tmp" "$pkg/cmd/ctr" \
        && go build -trimpath -tags "$tags no_grpc" -ldflags "$ldf" \
            -o "$dest/containerd-shim-runc-v2.tmp" "$pkg/cmd/containerd-shim-runc-v2") \
        >"$log_dir/containerd.log" 2>&1 || fail "containerd@$CONTAINERD_VERSION" "$log_dir/containerd.log"
    for b in containerd ctr containerd-shim-runc-v2; do mv "$dest/$b.tmp" "$dest/$b"; done
    done_in "$start"
fi

rm -rf "$log_dir"
echo "$dest"
