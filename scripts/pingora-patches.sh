#!/usr/bin/env bash
# Rebuilds each vendored pingora crate (vendor/CRATE) from its pristine release and its patch
# series in patches/CRATE (applied in file-name order), so the series can be carried to a new
# pingora release; see README "pingora patches". The crates are the directories of patches/
# (pingora-core, pingora-proxy, pingora-http).
#
#   scripts/pingora-patches.sh apply [VERSION]   for every crate: pristine VERSION (default: the
#                                                vendored one) + its series -> vendor/CRATE
#   scripts/pingora-patches.sh check             every vendor/CRATE is exactly pristine + series
#   scripts/pingora-patches.sh diff [CRATE]      what vendor/CRATE (default pingora-core) changes
#                                                beyond its series (to save as its next patch)
#
# The pristine crate comes from the local cargo registry when it is there, else from crates.io.
set -euo pipefail
shopt -s nullglob
root="$(cd "$(dirname "$0")/.." && pwd)"

crates() {
    local d
    for d in "$root"/patches/*/; do basename "$d"; done
}

vendored_version() {
    sed -n 's/^version = "\(.*\)"$/\1/p' "$root/vendor/$1/Cargo.toml" | head -1
}

# pristine CRATE VERSION DIR: unpacks CRATE-VERSION into DIR.
pristine() {
    local crate="$1" version="$2" dir="$3"
    local local_src=("${CARGO_HOME:-$HOME/.cargo}"/registry/src/*/"$crate-$version")
    mkdir -p "$dir"
    if [ ${#local_src[@]} -gt 0 ]; then
        cp -a "${local_src[0]}/." "$dir/"
    else
        # Python 3 is a prerequisite of the repository; curl is not.
        python3 -c 'import sys, urllib.request; sys.stdout.buffer.write(urllib.request.urlopen(sys.argv[1], timeout=60).read())' \
            "https://static.crates.io/crates/$crate/$crate-$version.crate" \
            | tar -xz -C "$dir" --strip-components=1
    fi
    rm -f "$dir/.cargo-ok"
}

# patched CRATE VERSION DIR: pristine + every patch of the crate's series, failing on the first
# that does not apply cleanly (no fuzz: a patch that needs one is re-made, not guessed).
patched() {
    pristine "$1" "$2" "$3"
    for p in "$root/patches/$1"/*.patch; do
        if ! (cd "$3" && patch -p1 -F0 -s --no-backup-if-mismatch <"$p"); then
            echo "$1/$(basename "$p") does not apply to $1 $2: re-make it (see README)" >&2
            return 1
        fi
    done
}

count() { local p=("$root/patches/$1"/*.patch); echo "${#p[@]}"; }

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

case "${1:-}" in
apply)
    for crate in $(crates); do
        version="${2:-$(vendored_version "$crate")}"
        patched "$crate" "$version" "$tmp/$crate"
        rm -rf "$root/vendor/$crate"
        mkdir -p "$root/vendor"
        mv "$tmp/$crate" "$root/vendor/$crate"
        echo "vendor/$crate is $crate $version with $(count "$crate") patches"
    done
    ;;
check)
    for crate in $(crates); do
        patched "$crate" "$(vendored_version "$crate")" "$tmp/$crate"
        diff -r "$tmp/$crate" "$root/vendor/$crate" >/dev/null || {
            echo "vendor/$crate differs from pristine + patches/$crate:" >&2
            diff -ru "$tmp/$crate" "$root/vendor/$crate" | head -40 >&2
            exit 1
        }
        echo "vendor/$crate = $crate $(vendored_version "$crate") + $(count "$crate") patches"
    done
    ;;
diff)
    crate="${2:-pingora-core}"
    patched "$crate" "$(vendored_version "$crate")" "$tmp/a"
    cp -a "$root/vendor/$crate" "$tmp/b"
    # No timestamps in the headers: a patch is compared and reviewed as text.
    (cd "$tmp" && diff -ruN a b | sed -E -e '/^(---|\+\+\+) /s/\t.*$//' -e '/^diff -ruN /d') || true
    ;;
*)
    sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//'
    exit 2
    ;;
esac
