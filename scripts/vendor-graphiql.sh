#!/usr/bin/env bash
# Fetches GraphiQL's browser assets from the npm registry, at the versions
# pinned here, into assets/graphiql; `casebook serve` embeds them, so the page
# at / loads nothing from the network. npm checks each tarball against the
# registry's integrity hash; SHA256SUMS records what was taken (a unit test
# compares the embedded files against it).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(graphiql@3.9.0 react@18.3.1 react-dom@18.3.1 graphql-ws@5.16.2)
files=(
    "graphiql package/graphiql.min.js"
    "graphiql package/graphiql.min.css"
    "graphiql package/LICENSE"
    "react package/umd/react.production.min.js"
    "react package/LICENSE"
    "react-dom package/umd/react-dom.production.min.js"
    "graphql-ws package/umd/graphql-ws.min.js"
    "graphql-ws package/LICENSE.md"
)

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "${packages[@]}" >/dev/null)
out=assets/graphiql
rm -rf "$out"
mkdir -p "$out"
for entry in "${files[@]}"; do
    read -r package path <<<"$entry"
    tarball=$(ls "$work"/"$package"-[0-9]*.tgz)
    name=$(basename "$path")
    case "$name" in LICENSE*) name="LICENSE.$package" ;; esac
    tar -xzOf "$tarball" "$path" >"$out/$name"
done
printf '%s\n' "${packages[@]}" >"$out/VERSIONS"
(cd "$out" && sha256sum -- *.js *.css >SHA256SUMS)
ls -l "$out"
