#!/usr/bin/env bash
# `make e2e`: builds what changed (binaries, images), creates a lab
# cluster, runs the Ginkgo e2e suite (e2e/) against it with a JUnit report
# in _artifacts/junit.xml, exports the cluster's logs to _artifacts/logs
# when something failed, and always deletes the cluster. The exit code is
# the suite's (or the failing step's).
#
# Environment:
#   E2E_CLUSTER   cluster name (default e2e)
#   E2E_CONFIG    kind config file (default kindconfig/default.yaml)
#   E2E_PROCS     parallel Ginkgo processes (default 4: specs mostly wait)
#   E2E_FOCUS / E2E_LABELS   --focus / --label-filter for the suite
#   E2E_KEEP=1    keep the cluster afterwards (its kubeconfig is in _artifacts/)
#   ARTIFACTS     artifacts directory (default _artifacts)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
start=$SECONDS

name=${E2E_CLUSTER:-e2e}
config=${E2E_CONFIG:-kindconfig/default.yaml}
artifacts=${ARTIFACTS:-$root/_artifacts}
case $artifacts in /*) ;; *) artifacts=$root/$artifacts ;; esac
kubelab=$root/bin/kubelab
step() { printf '\n=== e2e: %s (%ds)\n' "$*" "$((SECONDS - start))"; }

# Clear what an earlier run left (only what this script and the suite write).
rm -rf "$artifacts"/junit.xml "$artifacts"/logs "$artifacts"/kubeconfig* "$artifacts"/sig-*
mkdir -p "$artifacts"
# The cluster's context goes into a kubeconfig of its own, never the
# user's: create merges it there, delete removes it.
merged=$artifacts/kubeconfig.merged
kubeconfig=$artifacts/kubeconfig

step "building images that changed (and bin/kubelab)"
hack/build-images.sh

# testapp_image: the content tag kubelab/testapp:dev points at, the
# reference create cluster loads into the nodes.
testapp_image() {
  local id tag
  id=$(docker image inspect -f '{{.Id}}' kubelab/testapp:dev)
  tag=$(docker images --no-trunc --format '{{.Tag}} {{.ID}}' kubelab/testapp | awk -v id="$id" '$2 == id && $1 != "dev" {print $1; exit}')
  echo "kubelab/testapp:${tag:-dev}"
}
image=${E2E_TEST_IMAGE:-$(testapp_image)}

if "$kubelab" get clusters 2>/dev/null | grep -qx "$name"; then
  step "deleting the cluster $name left by an earlier run"
  "$kubelab" delete cluster --name "$name" --kubeconfig "$merged"
fi

rc=0
cleanup() {
  local status=$?
  [ "$rc" -ne 0 ] || rc=$status
  if [ "$rc" -ne 0 ]; then
    step "exporting the cluster's logs (exit code $rc)"
    "$kubelab" export logs "$artifacts/logs" --name "$name" || true
  fi
  if [ "${E2E_KEEP:-0}" = 1 ]; then
    step "keeping cluster $name: KUBECONFIG=$kubeconfig; delete it with: $kubelab delete cluster --name $name"
  else
    step "deleting cluster $name"
    "$kubelab" delete cluster --name "$name" --kubeconfig "$merged" || true
  fi
  step "done, exit code $rc, $((SECONDS - start)) s in all"
  exit "$rc"
}
trap cleanup EXIT
trap 'rc=130; exit 130' INT TERM

step "creating cluster $name from $config"
"$kubelab" create cluster --name "$name" --config "$config" --wait 5m --kubeconfig "$merged"
"$kubelab" get kubeconfig --name "$name" >"$kubeconfig"

step "running the suite (test image $image, ${E2E_PROCS:-4} processes)"
ginkgo_args=(--tags e2e --procs "${E2E_PROCS:-4}" --timeout 30m --poll-progress-after 2m
  --junit-report junit.xml --output-dir "$artifacts" --no-color)
[ -z "${E2E_FOCUS:-}" ] || ginkgo_args+=(--focus "$E2E_FOCUS")
[ -z "${E2E_LABELS:-}" ] || ginkgo_args+=(--label-filter "$E2E_LABELS")
set +e
KUBECONFIG=$kubeconfig E2E_TEST_IMAGE=$image ARTIFACTS=$artifacts \
  go tool ginkgo "${ginkgo_args[@]}" ./e2e
rc=$?
set -e
exit "$rc"
