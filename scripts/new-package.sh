#!/usr/bin/env bash
# new-package.sh NAME "description" — scaffolds packages/NAME as @hadb/NAME (ESM-only, tsc build,
# LICENSE, src shipped next to dist so source maps and the hadb-source condition resolve).
# For NAME = lease-<backend> it also copies the in-memory template (packages/lease-mem) with its
# names changed: src/<backend>-lease-store.ts exporting <Backend>LeaseStore, its conformance test,
# @hadb/io as a dependency, @hadb/lease as a peer and dev dependency and @hadb/testkit as a dev
# dependency. The copy passes
# the lease suite as it stands; CONTRIBUTING.md ("Adding a lease store") continues from there.
# Then run `npx -y pnpm@10.34.8 install --no-frozen-lockfile` to link the new package.
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 NAME \"description\"   (e.g. $0 lease-redis \"Redis LeaseStore for hadb\")" >&2; exit 2; }
name=$1; desc=$2
[[ "$name" =~ ^[a-z][a-z0-9-]*$ ]] || { echo "NAME must be lower-case letters, digits and dashes: $name" >&2; exit 2; }
repo="$(cd "$(dirname "$0")/.." && pwd)"
dir="$repo/packages/$name"
[ -e "$dir/package.json" ] && { echo "$dir already exists" >&2; exit 1; }
mkdir -p "$dir/src" "$dir/test"

deps=""
install="npm install @hadb/$name"
if [[ "$name" == lease-* ]]; then
  backend=${name#lease-}
  # redis -> Redis, my-kv -> MyKv
  Backend=$(echo "$backend" | awk -F- '{ for (i = 1; i <= NF; i++) printf "%s%s", toupper(substr($i, 1, 1)), substr($i, 2) }')
  deps=',
  "dependencies": { "@hadb/io": "workspace:^" },
  "peerDependencies": { "@hadb/lease": "workspace:^" },
  "devDependencies": { "@hadb/lease": "workspace:^", "@hadb/testkit": "workspace:^" }'
  install="npm install @hadb/$name @hadb/lease"
  rename() { sed -e "s/MemLeaseStore/${Backend}LeaseStore/g" -e "s/mem-lease-store/${backend}-lease-store/g" \
    -e "s/'mem'/'$backend'/g" -e "s/\"mem\"/\"$backend\"/g" "$1"; }
  rename "$repo/packages/lease-mem/src/mem-lease-store.ts" >"$dir/src/$backend-lease-store.ts"
  rename "$repo/packages/lease-mem/test/mem-lease-store.test.ts" >"$dir/test/$backend-lease-store.test.ts"
  echo "export { ${Backend}LeaseStore, type ${Backend}LeaseStoreOptions } from './$backend-lease-store.js';" >"$dir/src/index.ts"
fi

cat > "$dir/package.json" <<JSON
{
  "name": "@hadb/$name",
  "version": "0.1.0",
  "description": "$desc",
  "license": "Apache-2.0",
  "type": "module",
  "sideEffects": false,
  "files": ["dist", "src", "LICENSE"],
  "engines": { "node": ">=20.19" },
  "types": "./dist/index.d.ts",
  "exports": {
    ".": {
      "types": "./dist/index.d.ts",
      "hadb-source": "./src/index.ts",
      "default": "./dist/index.js"
    },
    "./package.json": "./package.json"
  },
  "publishConfig": { "access": "public" },
  "scripts": {
    "build": "rm -rf dist && tsc -p tsconfig.build.json",
    "typecheck": "tsc -p tsconfig.json --noEmit",
    "test": "vitest run --config ../../vitest.config.ts --project @hadb/$name"
  }$deps
}
JSON
cat > "$dir/tsconfig.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "noEmit": true },
  "include": ["src", "test", "bench"]
}
JSON
cat > "$dir/tsconfig.build.json" <<JSON
{
  "extends": "../../tsconfig.base.json",
  "compilerOptions": { "rootDir": "src", "outDir": "dist" },
  "include": ["src"]
}
JSON
cp "$repo/LICENSE" "$dir/LICENSE"
[ -f "$dir/src/index.ts" ] || echo "export {};" > "$dir/src/index.ts"
printf '# @hadb/%s\n\n%s\n\n```sh\n%s\n```\n' "$name" "$desc" "$install" > "$dir/README.md"
echo "created $dir — now: npx -y pnpm@10.34.8 install --no-frozen-lockfile"
