#!/usr/bin/env bash
# Installs the pinned deploy tooling into node_modules/: wrangler 4 and the Node 22 it needs,
# both from the npm registry (the machine's own Node 20 only runs npm). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=node_modules/.installed-lock
if [ -f "$stamp" ] && cmp -s package-lock.json "$stamp" && [ -x node_modules/.bin/wrangler ]; then
  exit 0
fi
# `npm ci` refuses this lock: the registry here has no darwin/windows builds of workerd, so the
# lock cannot list them. `npm install` with the committed lock installs the same pinned tree.
npm install --no-audit --no-fund --no-save --loglevel=error >/dev/null
cp package-lock.json "$stamp"
echo "node tools: wrangler $(PATH="$PWD/node_modules/.bin:$PATH" wrangler --version 2>/dev/null | tail -1) on node $(node_modules/.bin/node --version)"
