#!/usr/bin/env bash
# Installs the Debian packages listed in hack/apt-packages.txt that are missing. Run by `make deps`
# (and so by `make test` and `make demo`): idempotent, silent when nothing is missing. Works as root,
# and as a user through sudo; without either it names the packages and the command to run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
mapfile -t want < <(grep -vE '^\s*(#|$)' "$here/apt-packages.txt")
command -v dpkg >/dev/null || { echo "apt-deps: no dpkg here; install by hand: ${want[*]}" >&2; exit 1; }
missing=()
for p in "${want[@]}"; do
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == "install ok installed" ]] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -eq 0 ]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "apt-deps: missing Debian packages: ${missing[*]}" >&2
  echo "apt-deps: not root and no sudo; as root run: apt-get install -y ${missing[*]}" >&2
  exit 1
fi
echo "apt-deps: installing ${missing[*]}" >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
"${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
