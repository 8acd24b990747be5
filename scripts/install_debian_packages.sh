#!/usr/bin/env bash
# Installs the Debian packages the project runs with, each only when a file it provides is missing:
#   scripts/install_debian_packages.sh PACKAGE=FILE [PACKAGE=FILE ...]
# scripts/test asks for Debian's `chromium` (the browser tests drive it through Playwright with
# executable_path: Playwright's own browser download needs a host the build machines cannot reach,
# Debian's registry they can) and fonts; scripts/dev asks for the font the GPU worker burns clip names
# with. Idempotent: prints one line and does nothing when every file is there. Needs root (or sudo).
set -euo pipefail

missing=()
for spec in "$@"; do
  package="${spec%%=*}" file="${spec#*=}"
  [ -e "$file" ] || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "debian packages: ${*%%=*} (up to date)"
  exit 0
fi

command -v apt-get >/dev/null || {
  echo "install_debian_packages: missing ${missing[*]} and there is no apt-get; install them by hand" >&2
  exit 1
}
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "install_debian_packages: missing ${missing[*]}; installing needs root (apt-get install ${missing[*]})" >&2
  exit 1
fi

start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a colleague's, unattended upgrades) may hold the lock: wait for it instead of failing.
apt=("${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -q)
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# apt's chatter (debconf notes and the like) is shown only when something fails.
run() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "install_debian_packages: failed: $*" >&2; exit 1; }; }
# A fresh machine may have no package lists at all; the update is cheap next to the install.
run "${apt[@]}" update
run "${apt[@]}" install -y --no-install-recommends "${missing[@]}"
for spec in "$@"; do
  [ -e "${spec#*=}" ] || { echo "install_debian_packages: ${spec%%=*} installed but ${spec#*=} is not there" >&2; exit 1; }
done
echo "debian packages: installed ${missing[*]} in $((SECONDS - start)) s"
