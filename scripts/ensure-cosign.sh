#!/usr/bin/env bash
# Ensure a cosign 3 binary for the real-tool integration tests (test/integration/real-tools.test.ts)
# and print its path on stdout.
#
# Debian bookworm has no cosign package. Debian unstable's `cosign` (3.x, a Go binary needing
# only libc6 >= 2.34, so it runs on bookworm) is downloaded with `apt-get download` through a
# private apt configuration for suite `sid` on this machine's own Debian mirror, then unpacked
# with `dpkg-deb -x` into .cache/tools/cosign/ (git-ignored). The system's apt sources, lists,
# cache and installed packages are not touched, so it works as any user.
#
# Idempotent: when the cached binary runs and is Debian's cosign 3.x (version in
# .cache/tools/cosign/debian-version), prints its path and does nothing else.
# Override the location with IMAGEGATE_COSIGN (a path to a cosign 3 binary).
# Exits 1 with a message on stderr when cosign cannot be obtained.
# Checked with cosign 3.1.1-2 (Debian sid, 2026-12).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache="$repo/.cache/tools/cosign"
binary="$cache/root/usr/bin/cosign"

# Debian builds print GitVersion "devel", so the version is the package's, kept beside the binary.
runs() { "$1" version >/dev/null 2>&1; }

if [[ -n "${IMAGEGATE_COSIGN:-}" ]]; then
  if runs "$IMAGEGATE_COSIGN"; then
    echo "$IMAGEGATE_COSIGN"
    exit 0
  fi
  echo "ensure-cosign: IMAGEGATE_COSIGN=$IMAGEGATE_COSIGN is not a runnable cosign binary" >&2
  exit 1
fi

if [[ -x "$binary" ]] && [[ "$(cat "$cache/debian-version" 2>/dev/null)" == 3.* ]] && runs "$binary"; then
  echo "$binary"
  exit 0
fi

for tool in apt-get dpkg-deb dpkg; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "ensure-cosign: $tool not found; this script fetches Debian's cosign package and needs apt-get and dpkg-deb" >&2
    exit 1
  fi
done

# The machine's own Debian mirror: the first URI serving a bookworm (not -security) suite, in
# deb822 (.sources) or one-line (.list) form; deb.debian.org when none is found.
mirror=$(
  {
    cat /etc/apt/sources.list.d/*.sources 2>/dev/null || true
  } | awk '
    function stanza() {
      if (suites ~ /[ \t]bookworm([ \t]|-updates|$)/ && uris != "" && uris !~ /security/ && found == "") found = uris
      uris = ""; suites = ""
    }
    /^URIs:/ { uris = $2 }
    /^Suites:/ { suites = $0 }
    /^[ \t]*$/ { stanza() }
    END { stanza(); print found }'
)
if [[ -z "$mirror" ]]; then
  mirror=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null |
    awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i !~ /^\[/ && $i !~ /\]$/) { if ($(i+1) ~ /^bookworm/ && $i !~ /security/) { print $i; exit } ; break } }')
fi
mirror=${mirror:-http://deb.debian.org/debian}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
if [[ ! -r "$keyring" ]]; then
  echo "ensure-cosign: $keyring not found (package debian-archive-keyring); cannot check Debian sid's signature" >&2
  exit 1
fi

work="$cache/apt"
rm -rf "$work" "$cache/root"
mkdir -p "$work/lists/partial" "$work/cache/archives/partial" "$work/etc/preferences.d" "$cache/root"
echo "deb [signed-by=$keyring] $mirror sid main" >"$work/etc/sources.list"
arch=$(dpkg --print-architecture)
apt_opts=(
  -o "Dir::Etc::sourcelist=$work/etc/sources.list"
  -o "Dir::Etc::sourceparts=-"
  -o "Dir::Etc::preferences=$work/etc/preferences"
  -o "Dir::Etc::preferencesparts=$work/etc/preferences.d"
  -o "Dir::State::Lists=$work/lists"
  -o "Dir::Cache=$work/cache"
  -o "APT::Architecture=$arch"
  -o "APT::Architectures=$arch"
  -o "APT::Sandbox::User=$(id -un)"
  -o "Acquire::Languages=none"
)

echo "ensure-cosign: fetching Debian sid's cosign package from $mirror into $cache" >&2
if ! apt-get -qq "${apt_opts[@]}" update >&2; then
  echo "ensure-cosign: apt-get update of $mirror sid failed" >&2
  exit 1
fi
version=$(apt-cache "${apt_opts[@]}" policy cosign | awk '/Candidate:/ { print $2 }')
if [[ -z "$version" || "$version" == "(none)" ]]; then
  echo "ensure-cosign: no cosign package in Debian sid on $mirror (or its package list could not be fetched)" >&2
  exit 1
fi
if [[ "$version" != 3.* ]]; then
  echo "ensure-cosign: Debian sid's cosign is $version; the tests are written for cosign 3" >&2
  exit 1
fi
(cd "$work" && apt-get -qq "${apt_opts[@]}" download "cosign=$version" >&2)
deb=$(ls "$work"/cosign_*.deb)
dpkg-deb -x "$deb" "$cache/root"
rm -rf "$work"

if ! runs "$binary"; then
  echo "ensure-cosign: $binary from Debian's cosign $version does not run here" >&2
  exit 1
fi
echo "$version" >"$cache/debian-version"
echo "ensure-cosign: Debian's cosign $version at $binary" >&2
echo "$binary"
