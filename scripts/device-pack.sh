#!/usr/bin/env bash
# Packs what `gpu-check --all --node-only` needs on a lent GPU machine, where nothing can be
# installed and at most 64 MiB travels with the working tree: Node itself, the bundled CLI
# (dist-cli/) and the packages it loads at run time — webgpu with only its linux-x64 Dawn, and
# @huggingface/transformers with its dependencies (the ONNX Runtime stand-ins in shims/, sharp).
# Writes .gpu/pack.tar.gz (git ignores .gpu/); docs/benchmarks.md gives the device command.
set -euo pipefail
cd "$(dirname "$0")/.."
VITE_CONFIG_NATIVE_IGNORE_WARNING=true npx vite build --config vite.cli.config.ts
stage=$(mktemp -d)
mkdir -p "$stage/node_modules/@huggingface" "$stage/node_modules/@img"
cp "$(command -v node)" "$stage/node"
cp -r dist-cli "$stage/dist-cli"
for p in webgpu @huggingface/transformers @huggingface/jinja @huggingface/tokenizers \
  onnxruntime-node onnxruntime-web onnxruntime-common sharp detect-libc semver @img/colour \
  @img/sharp-linux-x64 @img/sharp-libvips-linux-x64; do
  [ -e "node_modules/$p" ] && cp -rL "node_modules/$p" "$stage/node_modules/$p"
done
rm -rf "$stage"/node_modules/webgpu/dist/{darwin-universal,linux-arm64,win32-arm64,win32-x64}
# transformers' Node ESM build is the one loaded; its browser bundles and types stay behind
find "$stage/node_modules/@huggingface/transformers/dist" -type f ! -name transformers.node.mjs -delete
rm -rf "$stage/node_modules/@huggingface/transformers/types" "$stage/node_modules/@huggingface/transformers/src"
mkdir -p .gpu
tar -C "$stage" -czf .gpu/pack.tar.gz .
rm -rf "$stage"
ls -l .gpu/pack.tar.gz
