#!/usr/bin/env bash
# Ensure the system tools used by the integration tests are installed:
#   docker-registry (Debian's distribution 2.8 build), openssl, kubectl, htpasswd (apache2-utils),
#   and cosign 3 (Debian unstable's package, unpacked into .cache/tools/ by ensure-cosign.sh).
# Quiet and idempotent when everything is present. As root, installs what is missing with apt-get;
# otherwise prints the exact install command and exits 1.
set -euo pipefail

here=$(dirname "${BASH_SOURCE[0]}")
# cosign does not come from bookworm's apt sources, so it is fetched on its own (any user).
ensure_cosign() { bash "$here/ensure-cosign.sh" >/dev/null; }

missing_pkgs=()
missing_cmds=()

need() { # need <command> <debian package>
  if ! command -v "$1" >/dev/null 2>&1; then
    missing_cmds+=("$1")
    local p
    for p in "${missing_pkgs[@]}"; do
      [[ "$p" == "$2" ]] && return 0
    done
    missing_pkgs+=("$2")
  fi
}

need docker-registry docker-registry
need openssl openssl
need htpasswd apache2-utils
need kubectl kubernetes-client

if [[ ${#missing_cmds[@]} -eq 0 ]]; then
  ensure_cosign
  exit 0
fi

echo "ensure-system-deps: missing: ${missing_cmds[*]}" >&2

if [[ "$(id -u)" -ne 0 ]]; then
  echo "ensure-system-deps: not root; install the missing packages with:" >&2
  echo "sudo apt-get install -y --no-install-recommends ${missing_pkgs[*]}"
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "ensure-system-deps: apt-get not found; install these Debian packages (or equivalents): ${missing_pkgs[*]}" >&2
  exit 1
fi

# Always install the base set (cheap when already present); add kubernetes-client only if kubectl is missing.
pkgs=(docker-registry openssl apache2-utils)
if ! command -v kubectl >/dev/null 2>&1; then
  pkgs+=(kubernetes-client)
fi

echo "ensure-system-deps: installing ${pkgs[*]}" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2

still_missing=()
for c in docker-registry openssl htpasswd kubectl; do
  command -v "$c" >/dev/null 2>&1 || still_missing+=("$c")
done
if [[ ${#still_missing[@]} -gt 0 ]]; then
  echo "ensure-system-deps: still missing after install: ${still_missing[*]}" >&2
  exit 1
fi
ensure_cosign
echo "ensure-system-deps: ok" >&2
