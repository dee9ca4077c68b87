#!/usr/bin/env bash
# `operator-sdk bundle validate ./bundle --select-optional suite=operatorframework`, stricter:
# warnings fail too. Then the same validation of a deliberately broken copy must fail, so a
# validator that silently checks nothing cannot pass. Usage: hack/bundle-validate.sh [BUNDLE_DIR]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
bundle=$(cd "${1:-$root/bundle}" && pwd)
sdk=$("$root/hack/operator-sdk.sh" | tail -n1)
k8s_version=${K8S_VERSION:-1.37}

# Prints the findings of one run; exit status 0 only when there are none at all.
validate() {
    local out err
    out=$(mktemp) err=$(mktemp)
    # NB: operator-sdk refuses to start next to our PROJECT file (custom layout): run in $1.
    (cd "$1" && "$sdk" bundle validate . --select-optional suite=operatorframework \
        --optional-values="k8s-version=$k8s_version" --output json-alpha1 >"$out" 2>"$err") || true
    python3 - "$out" "$err" <<'PY'
import json, pathlib, sys
out, err = (pathlib.Path(p).read_text() for p in sys.argv[1:])
try:
    result = json.loads(out)
except ValueError:
    print("  operator-sdk gave no result; its last output lines:")
    print("\n".join("  " + line for line in err.strip().splitlines()[:6]))
    sys.exit(1)
findings = result.get("outputs") or []
for f in findings:
    print("  %s: %s" % (f["type"], f["message"]))
sys.exit(0 if result.get("passed") and not findings else 1)
PY
    local status=$?
    rm -f "$out" "$err"
    return $status
}

echo "bundle-validate: $sdk bundle validate $bundle --select-optional suite=operatorframework"

if ! validate "$bundle"; then
    echo "bundle-validate: FAILED (errors or warnings above)" >&2
    exit 1
fi

broken=$(mktemp -d "${TMPDIR:-/tmp}/nimbusguard-bundle.XXXXXX")
trap 'rm -rf "$broken"' EXIT
cp -r "$bundle/." "$broken/"
sed -i 's/^    capabilities: .*/    capabilities: Autopilot/' "$broken"/manifests/*.clusterserviceversion.yaml
if validate "$broken" >/dev/null; then
    echo "bundle-validate: the validator accepted a CSV with an invalid capability level" >&2
    exit 1
fi
echo "bundle-validate: passed with no errors and no warnings (and a broken copy was refused)"
