#!/usr/bin/env bash
# Build the pinned control-plane binaries (kube-apiserver, kube-controller-manager,
# kube-scheduler, kubectl, etcd, kwok) from the Go module proxy into a cache directory
# outside the repository, keyed by version. A second run with everything present is a no-op.
#
# Prints the directory holding the binaries on its last line (the envtest convention:
# point KUBEBUILDER_ASSETS at it). If KUBEBUILDER_ASSETS already names a directory
# with every binary, that directory is used and nothing is built.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
tools="$here/tools"

# The version a go.mod requires of a module, whether in a require block or on one line.
required() { awk -v m="$2" '$1==m && $2 ~ /^v/ {print $2} $1=="require" && $2==m {print $3}' "$1" | head -n1; }
K8S_VERSION=$(required "$tools/k8s/go.mod" k8s.io/kubernetes)
ETCD_VERSION=$(required "$tools/etcd/go.mod" go.etcd.io/etcd/server/v3)
KWOK_VERSION=$(required "$tools/kwok/go.mod" sigs.k8s.io/kwok)
GO_VERSION=$(go env GOVERSION)

binaries=(kube-apiserver kube-controller-manager kube-scheduler kubectl etcd kwok)

have_all() {
    local dir=$1 b
    for b in "${binaries[@]}"; do [[ -x "$dir/$b" ]] || return 1; done
}

if [[ -n "${KUBEBUILDER_ASSETS:-}" ]]; then
    if have_all "$KUBEBUILDER_ASSETS"; then
        echo "$KUBEBUILDER_ASSETS"
        exit 0
    fi
    echo "envtest: KUBEBUILDER_ASSETS=$KUBEBUILDER_ASSETS lacks some of: ${binaries[*]}; building into the cache instead" >&2
fi

cache_root=${NIMBUSGUARD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/nimbusguard}
dest="$cache_root/k8s/$K8S_VERSION-etcd$ETCD_VERSION-kwok$KWOK_VERSION-$GO_VERSION"

if have_all "$dest"; then
    echo "$dest"
    exit 0
fi
mkdir -p "$dest"

# Say which module failed and why, not only a Go stack of errors.
fail() {
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
    # kwok >= 0.8 ships no built-in stages; keep the ones from the same module version
    # next to the binary so the launcher does not depend on the module cache.
    moddir=$(cd "$tools/kwok" && go list -m -f '{{.Dir}}' sigs.k8s.io/kwok)
    mkdir -p "$dest/kwok-stages"
    cp "$moddir/kustomize/stage/node/fast/node-initialize.yaml" \
       "$moddir/kustomize/stage/node/heartbeat-with-lease/node-heartbeat-with-lease.yaml" \
       "$moddir/kustomize/stage/pod/fast/pod-ready.yaml" \
       "$moddir/kustomize/stage/pod/fast/pod-complete.yaml" \
       "$moddir/kustomize/stage/pod/fast/pod-delete.yaml" \
       "$dest/kwok-stages/" 2>>"$log_dir/kwok.log" || fail "kwok stages from sigs.k8s.io/kwok@$KWOK_VERSION" "$log_dir/kwok.log"
    chmod u+w "$dest/kwok-stages/"*
fi

rm -rf "$log_dir"
echo "$dest"
