#!/usr/bin/env bash
# Copies the destination folder into a checkout of segmentio/action-destinations and runs that
# repository's checks on it, with the versions of its yarn.lock: type-check, lint, the folder's jest
# tests with their snapshots, type generation, definition validation and metadata.json.
#
# usage: scripts/check-in-monorepo.sh [--update] CHECKOUT
#   --update  take what the monorepo generates back into this package: generated-types.ts,
#             metadata.json and the snapshots (jest -u). Review the diff before committing it.
#
# The monorepo's whole `yarn install` needs packages that the npm registry may not serve, so
# when the checkout has no node_modules of its own, the tools these checks run are installed with
# npm into MONOREPO_TOOLS (default ~/.cache/emma-monorepo-tools) and linked as its node_modules.
set -euo pipefail

SLUG=emma-email-marketing
PACKAGE=$(cd "$(dirname "$0")/.." && pwd)
SCRIPTS=$PACKAGE/scripts
OURS=$PACKAGE/src/destinations/$SLUG

update=false
if [[ ${1:-} == --update ]]; then
  update=true
  shift
fi
if [[ $# -ne 1 || ! -f $1/yarn.lock || ! -d $1/packages/destination-actions/src/destinations ]]; then
  echo "usage: $0 [--update] CHECKOUT_OF_segmentio/action-destinations" >&2
  exit 2
fi
CHECKOUT=$(cd "$1" && pwd)
FOLDER=packages/destination-actions/src/destinations/$SLUG
TOOLS=${MONOREPO_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/emma-monorepo-tools}
LOGS=$(mktemp -d)

# What the checks run, by the workspace that declares it: the destinations' jest, the root's
# lint and TypeScript, what actions-core and its workspaces load, and the CLI's commands.
WORKSPACES=packages/destination-actions,packages/core,packages/cli,packages/destination-subscriptions,.
TOOL_NAMES=(
  jest ts-jest typescript @types/jest @types/node nock chance @types/chance
  eslint @typescript-eslint/parser @typescript-eslint/eslint-plugin eslint-config-prettier eslint-plugin-jest
  eslint-plugin-lodash prettier
  @lukeed/uuid aggregate-error ajv ajv-formats btoa-lite @types/btoa-lite cross-fetch dayjs ts-custom-error liquidjs
  @segment/fql-ts @types/json-schema
  @oclif/command @oclif/config @oclif/errors @oclif/plugin-help jsdom tsconfig-paths ts-node tslib chalk chokidar
  fs-extra globby json-schema-to-typescript lodash ora
)

install_tools() {
  local wanted
  wanted=$(node "$SCRIPTS/lockfile-versions.js" tools "$CHECKOUT" "$WORKSPACES" "${TOOL_NAMES[@]}")
  mkdir -p "$TOOLS"
  if [[ -d $TOOLS/node_modules && -f $TOOLS/wanted.txt && $(cat "$TOOLS/wanted.txt") == "$wanted" ]]; then
    echo "tools: as installed in $TOOLS"
    return
  fi
  echo "tools: installing into $TOOLS:" $wanted
  rm -rf "$TOOLS/node_modules" "$TOOLS/wanted.txt"
  # Twice: then every package that yarn.lock holds in one version is pinned to it (npm overrides).
  echo "$wanted" | node -e '
    const dependencies = {}
    for (const spec of require("fs").readFileSync(0, "utf8").split("\n").filter(Boolean)) {
      const at = spec.lastIndexOf("@")
      dependencies[spec.slice(0, at)] = spec.slice(at + 1)
    }
    console.log(JSON.stringify({ private: true, dependencies }, null, 2))' >"$TOOLS/package.json"
  npm_install
  node "$SCRIPTS/lockfile-versions.js" overrides "$CHECKOUT" "$TOOLS/node_modules" >"$TOOLS/overrides.json"
  node -e '
    const [file, overridesFile] = process.argv.slice(1)
    const manifest = require(file)
    const overrides = require(overridesFile)
    for (const name of Object.keys(manifest.dependencies)) delete overrides[name]
    require("fs").writeFileSync(file, JSON.stringify({ ...manifest, overrides }, null, 2))' \
    "$TOOLS/package.json" "$TOOLS/overrides.json"
  npm_install
  echo "$wanted" >"$TOOLS/wanted.txt"
}

npm_install() {
  # --legacy-peer-deps: yarn does not hold peer ranges against the tree (ts-jest 27 names typescript <5).
  (cd "$TOOLS" && npm install --no-audit --no-fund --no-package-lock --legacy-peer-deps --loglevel=error)
}

link_tools() {
  if [[ -L $CHECKOUT/node_modules || ! -e $CHECKOUT/node_modules ]]; then
    install_tools
    ln -sfn "$TOOLS/node_modules" "$CHECKOUT/node_modules"
  else
    echo "tools: the checkout's own node_modules"
  fi
}

copy_folder() {
  rm -rf "${CHECKOUT:?}/$FOLDER"
  cp -R "$OURS" "$CHECKOUT/$FOLDER"
  echo "copied $OURS to $CHECKOUT/$FOLDER"
}

# A tsconfig of the destinations' own compiler options and paths, holding this folder only: the
# package's tsconfig.json holds every destination, whose dependencies are not all installed.
write_tsconfig() {
  cat >"$LOGS/tsconfig.json" <<EOF
{
  "extends": "$CHECKOUT/packages/destination-actions/tsconfig.json",
  "compilerOptions": {
    "composite": false,
    "noEmit": true,
    "rootDir": "$CHECKOUT/packages",
    "typeRoots": ["$CHECKOUT/packages/destination-actions/node_modules/@types", "$CHECKOUT/node_modules/@types"]
  },
  "include": ["$CHECKOUT/$FOLDER"]
}
EOF
}

# The path of a package's file, as the destinations resolve the package (a workspace may nest its own version).
tool() {
  node -p "require('path').join(require('path').dirname(require.resolve('$1/package.json', {
    paths: ['$CHECKOUT/packages/destination-actions'] })), '$2')"
}

results=()
check() {
  local name=$1
  shift
  echo "--- $name: $*"
  if (cd "$CHECKOUT" && "$@") >"$LOGS/$name.log" 2>&1; then
    results+=("PASS $name")
  else
    results+=("FAIL $name (log: $LOGS/$name.log)")
    tail -n 40 "$LOGS/$name.log"
  fi
}

# Each check's commands are chained with &&: set -e does not stop a function that `if` calls.
generate_types() {
  ./bin/run generate:types --path "$FOLDER/index.ts" && diff -r "$OURS" "$FOLDER"
}

typecheck() {
  local tsc
  tsc=$(tool typescript bin/tsc) && node "$tsc" -p "$LOGS/tsconfig.json"
}

lint() {
  # The repository's .eslintrc.js; type information from the folder's tsconfig (see write_tsconfig).
  local eslint
  eslint=$(tool eslint bin/eslint.js) &&
    node "$eslint" --max-warnings 0 --parser-options "project:$LOGS/tsconfig.json" "$FOLDER/**/*.ts"
}

format() {
  local prettier
  prettier=$(tool prettier bin-prettier.js) && node "$prettier" --check "$FOLDER"
}

unit_tests() {
  local jest mode=(--ci)
  if $update; then
    mode=(--ci=false -u)
  fi
  jest=$(tool jest bin/jest.js) &&
    (cd packages/destination-actions && node "$jest" "${mode[@]}" "src/destinations/$SLUG")
}

with_manifest_of_one() {
  DESTINATION_UNDER_CHECK="$CHECKOUT/$FOLDER" NODE_OPTIONS="--require $SCRIPTS/manifest-of-one/register.js" "$@"
}

validate() {
  with_manifest_of_one ./bin/run validate
}

# scripts/assert-metadata-payload.sh for this folder: what the generator writes is what is committed.
metadata() {
  with_manifest_of_one ./bin/run generate:metadata-payload --path "$FOLDER" &&
    diff -u "$OURS/metadata.json" "$FOLDER/metadata.json"
}

take_back() {
  cp "$CHECKOUT/$FOLDER/generated-types.ts" "$OURS/generated-types.ts"
  for action in "$CHECKOUT/$FOLDER"/*/generated-types.ts; do
    cp "$action" "$OURS/$(basename "$(dirname "$action")")/generated-types.ts"
  done
  cp "$CHECKOUT/$FOLDER/metadata.json" "$OURS/metadata.json"
  (cd "$CHECKOUT/$FOLDER" && find . -path '*/__snapshots__/*.snap' -exec cp --parents {} "$OURS" \;)
  echo "took generated-types.ts, metadata.json and snapshots back into $OURS"
}

link_tools
copy_folder
write_tsconfig
check types generate_types
check typecheck typecheck
check lint lint
check format format
check jest unit_tests
check validate validate
check metadata metadata
if $update; then
  take_back
fi

cat <<EOF

segmentio/action-destinations at $(git -C "$CHECKOUT" rev-parse --short HEAD), node $(node --version) (CI runs 22.x)
Run with the lockfile's versions of the tools above, not with the whole yarn install. Left out:
- validate and generate:metadata-payload see a manifest of this destination alone
  (scripts/manifest-of-one), not the monorepo's, which loads every destination.
- lint takes type information from a tsconfig of this folder, not from tsconfig.eslint.json and
  packages/*/tsconfig.json, whose programs span every destination.
- the monorepo's build, its other packages' tests, and CI's affected-project selection (nx).
EOF
printf '%s\n' "${results[@]}"
[[ ${results[*]} != *FAIL* ]]
