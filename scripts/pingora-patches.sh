#!/usr/bin/env bash
# Rebuilds vendor/pingora-core from a pristine pingora-core release and the patch series in
# patches/pingora-core (applied in file-name order), so the series can be carried to a new
# pingora release; see README "pingora patches".
#
#   scripts/pingora-patches.sh apply [VERSION]   pristine VERSION (default: the vendored one)
#                                                + the series -> vendor/pingora-core
#   scripts/pingora-patches.sh check             vendor/pingora-core is exactly pristine + series
#   scripts/pingora-patches.sh diff              what vendor/pingora-core changes beyond the
#                                                series (to save as the next patch)
#
# The pristine crate comes from the local cargo registry when it is there, else from crates.io.
set -euo pipefail
shopt -s nullglob
root="$(cd "$(dirname "$0")/.." && pwd)"
vendor="$root/vendor/pingora-core"
series="$root/patches/pingora-core"

vendored_version() {
    sed -n 's/^version = "\(.*\)"$/\1/p' "$vendor/Cargo.toml" | head -1
}

# pristine VERSION DIR: unpacks pingora-core-VERSION into DIR.
pristine() {
    local version="$1" dir="$2"
    local local_src=("${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/pingora-core-"$version")
    mkdir -p "$dir"
    if [ ${#local_src[@]} -gt 0 ]; then
        cp -a "${local_src[0]}/." "$dir/"
    else
        # Python 3 is a prerequisite of the repository; curl is not.
        python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=60).read())' \
            "https://static.crates.io/crates/pingora-core/pingora-core-$version.crate" \
            | tar -xz -C "$dir" --strip-components=1
    fi
    rm -f "$dir/.cargo-ok"
}

# patched VERSION DIR: pristine + every patch of the series, failing on the first that does
# not apply cleanly (no fuzz: a patch that needs one is re-made, not guessed).
patched() {
    pristine "$1" "$2"
    for p in "$series"/*.patch; do
        if ! (cd "$2" && patch -p1 -F0 -s --no-backup-if-mismatch <"$p"); then
            echo "$(basename "$p") does not apply to pingora-core $1: re-make it (see README)" >&2
            return 1
        fi
    done
}

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

case "${1:-}" in
apply)
    version="${2:-$(vendored_version)}"
    patched "$version" "$tmp/new"
    rm -rf "$vendor"
    mkdir -p "$(dirname "$vendor")"
    mv "$tmp/new" "$vendor"
    echo "vendor/pingora-core is pingora-core $version with $(ls "$series"/*.patch | wc -l) patches"
    ;;
check)
    patched "$(vendored_version)" "$tmp/expected"
    diff -r "$tmp/expected" "$vendor" >/dev/null || {
        echo "vendor/pingora-core differs from pristine + patches/pingora-core:" >&2
        diff -ru "$tmp/expected" "$vendor" | head -40 >&2
        exit 1
    }
    echo "vendor/pingora-core = pingora-core $(vendored_version) + $(ls "$series"/*.patch | wc -l) patches"
    ;;
diff)
    patched "$(vendored_version)" "$tmp/a"
    cp -a "$vendor" "$tmp/b"
    # No timestamps in the headers: a patch is compared and reviewed as text.
    (cd "$tmp" && diff -ruN a b | sed -E -e '/^(---|\+\+\+) /s/\t.*$//' -e '/^diff -ruN /d') || true
    ;;
*)
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
