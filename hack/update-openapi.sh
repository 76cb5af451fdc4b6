#!/usr/bin/env bash
# Regenerates components/apiserver/openapi/zz_generated.openapi.go, the
# OpenAPI definitions (GetOpenAPIDefinitions) the API server publishes on
# /openapi/v2 and /openapi/v3. The definitions come from the +k8s:openapi-gen
# markers of the k8s.io/api and k8s.io/apimachinery packages pinned in go.mod,
# read from the module cache by kube-openapi's openapi-gen (a `go tool`).
#
# Run it after bumping k8s.io/api or k8s.io/apimachinery, or after adding a
# group below (add the group when the API server starts serving it).
set -o errexit -o nounset -o pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "${ROOT}"

OUT_DIR="components/apiserver/openapi"
OUT_PKG="github.com/kubelab/kubelab/${OUT_DIR}"

# Served API groups, then the apimachinery packages their types reference.
INPUT_PKGS=(
  k8s.io/api/core/v1
  k8s.io/api/apps/v1
  k8s.io/api/batch/v1
  k8s.io/api/coordination/v1
  k8s.io/api/discovery/v1
  k8s.io/api/events/v1
  k8s.io/api/autoscaling/v1
  k8s.io/api/policy/v1
  k8s.io/api/authentication/v1 # TokenRequest, for serviceaccounts/token
  k8s.io/api/scheduling/v1alpha3 # referenced by batch/v1 Job (workload-aware scheduling)
  k8s.io/apimachinery/pkg/apis/meta/v1
  k8s.io/apimachinery/pkg/runtime
  k8s.io/apimachinery/pkg/util/intstr
  k8s.io/apimachinery/pkg/api/resource
  k8s.io/apimachinery/pkg/version
)

# openapi-gen fails on upstream's known API rule violations (field names that
# do not match their JSON names, and the like) unless the report goes to a
# file; they are upstream's to fix, so the report is only counted here.
REPORT="$(mktemp)"
trap 'rm -f "${REPORT}"' EXIT

go tool openapi-gen \
  --go-header-file hack/boilerplate.go.txt \
  --output-dir "${OUT_DIR}" \
  --output-pkg "${OUT_PKG}" \
  --output-file zz_generated.openapi.go \
  --report-filename "${REPORT}" \
  "${INPUT_PKGS[@]}"

# A type from a package that is not an input is referenced by its Go path
# ("k8s.io/api/x/v1.T") instead of its model name, and has no definition:
# the API server would fail to build its documents. Add its package above.
missing="$(grep -o '"k8s\.io/[^"]*\.[A-Za-z0-9]*"' "${OUT_DIR}/zz_generated.openapi.go" | sort -u || true)"
if [[ -n "${missing}" ]]; then
  echo "referenced types without a definition; add their packages to INPUT_PKGS:" >&2
  echo "${missing}" >&2
  exit 1
fi

echo "wrote ${OUT_DIR}/zz_generated.openapi.go ($(grep -c . "${REPORT}" || true) upstream API rule violations ignored)"
