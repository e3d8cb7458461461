#!/usr/bin/env bash
# Copies the work tree to a scratch folder and builds it there (pnpm build), so a bench
# can run the apps as production does (node apps/<name>/dist/main.js) without writing
# dist/ into the checkout:
#   BENCH_BUILT_ROOT=$(bench/buildCopy.sh) node --conditions=@scheduler/source --import tsx bench/workloads/burst.ts
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
copy="${1:-${TMPDIR:-/tmp}/scheduler-bench-build}"
rm -rf "$copy"
mkdir -p "$copy"
# node_modules holds relative symlinks into its .pnpm store: copy it whole, as links.
(cd "$repo" && tar --exclude=./.git --exclude=./bench/profiles --no-wildcards-match-slash --exclude='./apps/*/dist' --exclude='./packages/*/dist' --exclude='./drills/dist' -cf - .) | (cd "$copy" && tar -xf -)
(cd "$copy" && pnpm build >&2)
echo "$copy"
