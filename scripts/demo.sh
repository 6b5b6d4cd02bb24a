#!/usr/bin/env bash
# Build a busybox bundle and run a container that prints a line.
set -euo pipefail
cd "$(dirname "$0")/.."
rt=$PWD/target/x86_64-unknown-linux-gnu/release/berth-runtime
bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
scripts/mkbundle.sh "$bundle" "$rt"
jq '.process.args = ["sh", "-c", "echo hello from a berth container on $(hostname), pid $$"]' \
    "$bundle/config.json" > "$bundle/config.json.new" && mv "$bundle/config.json.new" "$bundle/config.json"
"$rt" --root /tmp/berth-demo-state run --bundle "$bundle" "demo-$$"
rm -rf "$bundle"
