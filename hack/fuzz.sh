#!/usr/bin/env bash
# Runs each Go fuzz target for a bounded time: FUZZTIME per target (default
# 20s; any -fuzztime value, such as 1m or 5000x). Compiling a target with
# coverage instrumentation comes on top of that time. A failure leaves the
# input that found it under the package's testdata/fuzz/<Target>/, where
# plain `go test` replays it from then on; commit it with the fix.
#
#   hack/fuzz.sh                 # every target, 20s each
#   FUZZTIME=2m hack/fuzz.sh     # longer
#   hack/fuzz.sh FuzzPatch       # only the targets named
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

FUZZTIME="${FUZZTIME:-20s}"

# target package
TARGETS=(
  "FuzzDecodeBody ./components/apiserver/endpoints"
  "FuzzPatch ./components/apiserver/registry"
)

failed=()
for entry in "${TARGETS[@]}"; do
  read -r target pkg <<<"${entry}"
  if [[ $# -gt 0 && ! " $* " =~ " ${target} " ]]; then
    continue
  fi
  echo "--- ${target} (${pkg}) for ${FUZZTIME}"
  if ! go test "${pkg}" -run '^$' -fuzz "^${target}\$" -fuzztime "${FUZZTIME}"; then
    failed+=("${target}")
  fi
done

if [[ ${#failed[@]} -gt 0 ]]; then
  echo "FAIL: ${failed[*]}" >&2
  exit 1
fi
echo "PASS: every fuzz target ran ${FUZZTIME} without a failure"
