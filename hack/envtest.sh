#!/usr/bin/env bash
# Build the pinned control-plane binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok, metrics-server) from the Go module proxy into a cache
# directory outside the repository, keyed by version. A second run with everything present is
# a no-op.
#
# Prints the directory holding the binaries on its last line (the envtest convention:
# point KUBEBUILDER_ASSETS at it). If KUBEBUILDER_ASSETS already names a directory
# with every binary, that directory is used and nothing is built.
#
#   hack/envtest.sh            build what is missing, print the directory
#   hack/envtest.sh --check    build nothing; print the directory, or exit 1 naming what is missing
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
ETCD_VERSION=$(required "$tools/etcd/go.mod" go.etcd.io/etcd/server/v3)
KWOK_VERSION=$(required "$tools/kwok/go.mod" sigs.k8s.io/kwok)
METRICS_SERVER_VERSION=$(required "$tools/metrics-server/go.mod" sigs.k8s.io/metrics-server)
GO_VERSION=$(go env GOVERSION)

binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok metrics-server)
# kwok >= 0.8 has no built-in stages and no built-in metrics; the launcher feeds it these
# files, taken from the same kwok module version (see the kwok step below).
kwok_assets=(kwok-stages/pod-ready.yaml kwok-metrics/metrics-resource.yaml)

# metrics-server is not part of the directory's key (adding it would orphan caches built
# before it was added), so its binary carries a stamp with the version it was built from.
ms_stamp=metrics-server.version

# What is missing from a directory, one name per line; nothing when it is complete.
# With "stamped", a metrics-server built from another version counts as missing.
missing() {
    local dir=$1 b
    for b in "${binaries[@]}"; do [[ -x "$dir/$b" ]] || echo "$b"; done
    for b in "${kwok_assets[@]}"; do [[ -f "$dir/$b" ]] || echo "$b"; done
    if [[ "${2:-}" == stamped && -x "$dir/metrics-server" \
          && "$(cat "$dir/$ms_stamp" 2>/dev/null)" != "$METRICS_SERVER_VERSION" ]]; then
        echo "metrics-server@$METRICS_SERVER_VERSION"
    fi
}

# A folder given by the user is taken as it is: its binaries' versions are the user's choice.
if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    lacking=$(missing "$KUBEBUILDER_ASSETS")
    if [[ -z "$lacking" ]]; then
        echo "$KUBEBUILDER_ASSETS"
        exit 0
    fi
    echo "envtest: KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks:" $lacking "; using the cache instead" >&2
fi

cache_root=${NIMBUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nimbusguard}
dest="$cache_root/k8s/$K8S_VERSION-etcd$ETCD_VERSION-kwok$KWOK_VERSION-$GO_VERSION"

lacking=$(missing "$dest" stamped)
if [[ -z "$lacking" ]]; then
    echo "$dest"
    exit 0
fi
if $check_only; then
    echo "envtest: $dest lacks:" $lacking "(run \`make envtest\` to build them)" >&2
    exit 1
fi
mkdir -p "$dest"

# Say which module failed and why, not only a Go stack of errors.
fail() {
    echo "FAILED" >&2
    echo "envtest: building $1 failed; the last lines of the Go output:" >&2
    tail -n 25 "$2" >&2
    echo "envtest: full log: $2" >&2
    exit 1
}

log_dir=$(mktemp -d "${TMPDIR:-/tmp}/nimbusguard-envtest.XXXXXX")
step() { printf 'envtest: %-48s' "$1" >&2; }
done_in() { printf '%4ds\n' "$(( SECONDS - $1 ))" >&2; }

export CGO_ENABLED=0

if [[ ! -x "$dest/kube-apiserver" || ! -x "$dest/kube-controller-manager" \
      || ! -x "$dest/kube-scheduler" || ! -x "$dest/kubectl" ]]; then
    minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
    ldf="-s -w"
    # Stamp the version like upstream's hack/lib/version.sh so /version is real semver.
    for kv in "gitVersion=$K8S_VERSION" gitMajor=1 "gitMinor=$minor" gitTreeState=clean \
              gitCommit=0000000000000000000000000000000000000000 \
              "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
        ldf="$ldf -X k8s.io/component-base/version.$kv -X k8s.io/client-go/pkg/version.$kv"
    done
    start=$SECONDS
    step "k8s.io/kubernetes@$K8S_VERSION (4 binaries)"
    (cd "$tools/k8s" && go build -trimpath -tags selinux,notest,grpcnotrace -ldflags "$ldf" \
        -o "$dest/" \
        k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
        k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl) \
        >"$log_dir/k8s.log" 2>&1 || fail "k8s.io/kubernetes@$K8S_VERSION" "$log_dir/k8s.log"
    done_in "$start"
fi

if [[ ! -x "$dest/etcd" ]]; then
    start=$SECONDS
    step "go.etcd.io/etcd/server/v3@$ETCD_VERSION"
    (cd "$tools/etcd" && go build -trimpath \
        -ldflags "-s -w -X go.etcd.io/etcd/api/v3/version.GitSHA=$ETCD_VERSION" \
        -o "$dest/etcd" go.etcd.io/etcd/server/v3) \
        >"$log_dir/etcd.log" 2>&1 || fail "go.etcd.io/etcd/server/v3@$ETCD_VERSION" "$log_dir/etcd.log"
    done_in "$start"
fi

if [[ ! -x "$dest/kwok" ]]; then
    start=$SECONDS
    step "sigs.k8s.io/kwok@$KWOK_VERSION"
    (cd "$tools/kwok" && go build -trimpath -ldflags "-s -w" -o "$dest/kwok" sigs.k8s.io/kwok/cmd/kwok) \
        >"$log_dir/kwok.log" 2>&1 || fail "sigs.k8s.io/kwok@$KWOK_VERSION" "$log_dir/kwok.log"
    done_in "$start"
fi

if [[ ! -f "$dest/kwok-stages/pod-ready.yaml" || ! -f "$dest/kwok-metrics/metrics-resource.yaml" ]]; then
    # Keep kwok's stage and metric files next to the binary so the launcher does not depend
    # on the module cache (which `go clean -modcache` may empty).
    moddir=$(cd "$tools/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok) 2>"$log_dir/kwok-assets.log" \
        || fail "kwok files from sigs.k8s.io/kwok@$KWOK_VERSION" "$log_dir/kwok-assets.log"
    mkdir -p "$dest/kwok-stages" "$dest/kwok-metrics"
    { cp "$moddir/kustomize/stage/node/fast/node-initialize.yaml" \
         "$moddir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
         "$moddir/kustomize/stage/pod/fast/pod-ready.yaml" \
         "$moddir/kustomize/stage/pod/fast/pod-complete.yaml" \
         "$moddir/kustomize/stage/pod/fast/pod-delete.yaml" \
         "$dest/kwok-stages/" &&
      cp "$moddir/kustomize/metrics/resource/metrics-resource.yaml" \
         "$moddir/kustomize/metrics/usage/usage-from-annotation.yaml" \
         "$dest/kwok-metrics/"; } 2>>"$log_dir/kwok-assets.log" \
        || fail "kwok files from sigs.k8s.io/kwok@$KWOK_VERSION" "$log_dir/kwok-assets.log"
    chmod u+w "$dest/kwok-stages/"* "$dest/kwok-metrics/"*
fi

if [[ ! -x "$dest/metrics-server" || "$(cat "$dest/$ms_stamp" 2>/dev/null)" != "$METRICS_SERVER_VERSION" ]]; then
    start=$SECONDS
    step "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION"
    ms_ldf="-s -w"
    for kv in "gitVersion=$METRICS_SERVER_VERSION" gitTreeState=clean \
              gitCommit=0000000000000000000000000000000000000000 \
              "buildDate=$(date -u +%Y-%m-%dT%H:%M:%SZ)"; do
        ms_ldf="$ms_ldf -X k8s.io/client-go/pkg/version.$kv"
    done
    (cd "$tools/metrics-server" && go build -trimpath -ldflags "$ms_ldf" \
        -o "$dest/metrics-server" sigs.k8s.io/metrics-server/cmd/metrics-server) \
        >"$log_dir/metrics-server.log" 2>&1 \
        || fail "sigs.k8s.io/metrics-server@$METRICS_SERVER_VERSION" "$log_dir/metrics-server.log"
    echo "$METRICS_SERVER_VERSION" >"$dest/$ms_stamp"
    done_in "$start"
fi

rm -rf "$log_dir"
echo "$dest"
