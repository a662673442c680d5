#!/usr/bin/env bash
# Refreshes tests/schema/: the OpenAPI v2 schema served by a real Kubernetes API server (the lab's
# kind cluster), which the fast tests validate every synthesized object against. Deliberate, not
# part of any test run: the file is committed so `npm test` works offline and without a cluster.
#
# Usage: tools/refresh-schema.sh      (kubectl must point at a v1.28 cluster, e.g. after npm run lab:up)
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT_DIR="${REPO_ROOT}/tests/schema"

main() {
  tmp=$(mktemp)
  trap 'rm -f "${tmp}"' EXIT
  kubectl get --raw /openapi/v2 >"${tmp}"
  local version
  version=$(node -p "JSON.parse(require('fs').readFileSync('${tmp}', 'utf8')).info.version")
  case "${version}" in
    v1.28.*) ;;
    *) echo "error: the cluster serves Kubernetes ${version}; the project targets v1.28" >&2; exit 1 ;;
  esac
  rm -f "${OUT_DIR}"/kubernetes-openapi-v2-*.json.gz
  gzip -9 -n -c "${tmp}" >"${OUT_DIR}/kubernetes-openapi-v2-${version}.json.gz"
  echo "wrote tests/schema/kubernetes-openapi-v2-${version}.json.gz" >&2
}

main "$@"
