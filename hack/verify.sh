#!/usr/bin/env bash
# Checks that are cheap and must always hold: formatting and go vet.
set -euo pipefail
cd "$(dirname "$0")/.."
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './_*'))
if [ -n "$unformatted" ]; then
  echo "gofmt needed on:" >&2
  echo "$unformatted" >&2
  exit 1
fi
go vet ./...
# The e2e suite builds only with its tag (it needs a cluster): vet it too.
go vet -tags e2e ./e2e/...
