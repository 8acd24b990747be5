#!/usr/bin/env bash
# Installs Debian's `chromium` for the browser tests (tests/browser/), which drive it through
# Playwright with executable_path=/usr/bin/chromium: Playwright's own browser download needs a host
# the build machines cannot reach, Debian's package registry they can. Idempotent: does nothing when
# /usr/bin/chromium is there. Needs root (or sudo) and apt. Prints one line on success.
set -euo pipefail

CHROMIUM=/usr/bin/chromium
# Debian's launcher script prints a shell warning of its own on stderr; only the version line matters.
chromium_version() { "$CHROMIUM" --version 2>/dev/null || echo "version unknown"; }
if [ -x "$CHROMIUM" ]; then
  echo "chromium: $(chromium_version) (up to date)"
  exit 0
fi

command -v apt-get >/dev/null || {
  echo "install_chromium: $CHROMIUM is missing and there is no apt-get; install Chromium and link it there" >&2
  exit 1
}
if [ "$(id -u)" = 0 ]; then
  as_root=()
elif command -v sudo >/dev/null; then
  as_root=(sudo)
else
  echo "install_chromium: $CHROMIUM is missing; installing it needs root (apt-get install chromium)" >&2
  exit 1
fi

start=$SECONDS
export DEBIAN_FRONTEND=noninteractive
# Another apt run (a colleague's, unattended upgrades) may hold the lock: wait for it instead of failing.
apt=("${as_root[@]}" apt-get -o DPkg::Lock::Timeout=600 -o Acquire::Retries=3 -q)
log="$(mktemp)"
trap 'rm -f "$log"' EXIT
# apt's chatter (debconf notes and the like) is shown only when something fails.
run() { "$@" >"$log" 2>&1 || { cat "$log" >&2; echo "install_chromium: failed: $*" >&2; exit 1; }; }
# A fresh machine may have no package lists at all; the update is cheap next to the install.
run "${apt[@]}" update
# fonts-liberation: the recommended fonts, so pages (and their screenshots) render real text metrics.
run "${apt[@]}" install -y --no-install-recommends chromium fonts-liberation
[ -x "$CHROMIUM" ] || { echo "install_chromium: apt-get finished but $CHROMIUM is not there" >&2; exit 1; }
echo "chromium: $(chromium_version) (installed in $((SECONDS - start)) s)"
