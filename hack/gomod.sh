# Sourced by the build scripts (hack/envtest.sh, hack/realnode-binaries.sh).
# The version a go.mod requires of a module, whether in a require block or on one line.
required() { awk -v m="$2" '$1==m && $2 ~ /^v/ {print $2} $1=="require" && $2==m {print $3}' "$1" | head -n1; }
