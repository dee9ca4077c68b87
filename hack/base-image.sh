#!/usr/bin/env bash
# Make the local Python base image for `make docker-build` where no registry can be reached:
# a Debian bookworm root filesystem with python3 + venv (mmdebstrap, minbase variant), imported
# into podman. Debian bookworm's python3 is 3.11, like the Dockerfile's default base.
#
# The tag is keyed by what goes in (suite + packages), so a change makes a new image and an
# unchanged one is a no-op. Prints the image name on its last line; the Makefile passes it to
# the Dockerfile as PYTHON_IMAGE.
#
#   hack/base-image.sh           build unless present, print the name
#   hack/base-image.sh --name    print the name only
set -euo pipefail

suite=bookworm
packages=python3,python3-venv,ca-certificates
key=$(printf '%s %s' "$suite" "$packages" | sha1sum | cut -c1-10)
image=localhost/nimbusguard-python:3.11-$suite-$key

if [[ "${1:-}" == --name ]]; then
    echo "$image"
    exit 0
fi
if podman image exists "$image"; then
    echo "$image"
    exit 0
fi

say() { echo "base-image: $*" >&2; }
work=$(mktemp -d "${TMPDIR:-/tmp}/nimbusguard-base.XXXXXX")
trap 'rm -rf "$work"' EXIT
say "building $image with mmdebstrap ($suite, $packages; first time: about 2 minutes)"
start=$SECONDS
# minbase: no apt recommends, no documentation needed at run time.
if ! mmdebstrap --quiet --variant=minbase --include="$packages" \
        --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        "$suite" "$work/rootfs.tar" >"$work/mmdebstrap.log" 2>&1; then
    tail -n 25 "$work/mmdebstrap.log" >&2
    say "mmdebstrap failed (log above)"
    exit 1
fi
podman import --quiet --change 'CMD ["python3"]' "$work/rootfs.tar" "$image" >/dev/null
say "imported $image in $(( SECONDS - start ))s"
echo "$image"
