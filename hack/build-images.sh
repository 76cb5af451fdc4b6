#!/usr/bin/env bash
# Builds kubelab's images, only what changed (content-hash tags), and prints
# their sizes: `make images`. Arguments are image names (default: all) and
# `kubelab build images` flags, e.g. --save _output/images-save.
set -euo pipefail
cd "$(dirname "$0")/.."
hack/install-image-deps.sh
mkdir -p bin
go build -trimpath -ldflags "-s -w" -o bin/kubelab ./cmd/kubelab
exec bin/kubelab build images "$@"
