#!/usr/bin/env bash
# Build a busybox bundle and run a container that prints a line, with
# berth-runtime; then the same through berth from an imported busybox image.
set -euo pipefail
cd "$(dirname "$0")/.."
rt=$PWD/target/x86_64-unknown-linux-gnu/release/berth-runtime
bundle=$(mktemp -d /tmp/berth-demo.XXXXXX)
scripts/mkbundle.sh "$bundle" "$rt"
jq '.process.args = ["sh", "-c", "echo hello from a berth container on $(hostname), pid $$"]' \
    "$bundle/config.json" > "$bundle/config.json.new" && mv "$bundle/config.json.new" "$bundle/config.json"
"$rt" --root /tmp/berth-demo-state run --bundle "$bundle" "demo-$$"
rm -rf "$bundle"

# The same with berth: a busybox image imported into a private store.
berth=$PWD/target/x86_64-unknown-linux-gnu/release/berth
store=$(mktemp -d /tmp/berth-demo-store.XXXXXX)
mkdir -p "$store/rootfs/bin"
cp /bin/busybox "$store/rootfs/bin/"
ln -s busybox "$store/rootfs/bin/sh"
tar -C "$store/rootfs" -cf "$store/busybox.tar" .
b() { "$berth" --root "$store/root" --runroot "$store/run" "$@"; }
b import -q "$store/busybox.tar" busybox >/dev/null
b run --rm busybox sh -c 'echo hello from berth run on $(hostname)'
b rmi -f busybox >/dev/null
rm -rf "$store"
