#!/usr/bin/env bash
# Removes compiled outputs whose TypeScript source is gone (a moved or deleted file, typically a test):
# `tsc -b` never deletes them, and the test targets run every *.test.js under dist/, so a stale one would
# fail `make test` in a tree that has been built before. Each workspace compiles src/ to dist/.
set -euo pipefail
cd "$(dirname "$0")/.."
for ws in operator remoting-server e2e packages/*; do
  [ -d "$ws/dist" ] || continue
  find "$ws/dist" -name '*.js' -print0 | while IFS= read -r -d '' js; do
    rel=${js#"$ws/dist/"}
    [ -e "$ws/src/${rel%.js}.ts" ] || [ -e "$ws/src/${rel%.js}.tsx" ] || [ -e "$ws/src/$rel" ] && continue
    rm -f "$js" "$js.map" "${js%.js}.d.ts" "${js%.js}.d.ts.map"
    echo "prune-stale-dist: removed $js (its source is gone)" >&2
  done
done
