#!/usr/bin/env bash
# `npm run down [-- --volumes] [-- --cluster]`: deletes the tier.
#   (default)   the tier's objects in $HA_TIER_NAMESPACE (default ha-tier), keeping the namespace, its
#               Secrets and the volumes, so the next `npm run up` finds the data again
#   --volumes   the whole namespace: volumes (PVCs) and Secrets too
#   --cluster   the kind cluster as well (on the lab: kind/lab/down.sh, which also stops the
#               dockerd the lab started)
# Usage: kind/teardown.sh [--volumes] [--cluster]
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=kind/lab/lib.sh
source "${REPO_ROOT}/kind/lab/lib.sh"

KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-$(sed -n 's/^name: *//p' "${REPO_ROOT}/kind/cluster.yaml")}"
CONTEXT="kind-${KIND_CLUSTER_NAME}"
NAMESPACE="${HA_TIER_NAMESPACE:-ha-tier}"
export PATH="${PATH}:${LAB_BIN}"

main() {
  local volumes=false cluster=false
  while [ $# -gt 0 ]; do
    case "$1" in
      --volumes) volumes=true ;;
      --cluster) cluster=true; volumes=true ;;
      *) die "unknown argument '$1'; usage: npm run down -- [--volumes] [--cluster]" ;;
    esac
    shift
  done
  if [ "${cluster}" = true ]; then
    if [ -x "${LAB_BIN}/kind" ] && [ -f "${LAB_CACHE}/run/dockerd.pid" ]; then
      "${REPO_ROOT}/kind/lab/down.sh"
    elif command -v kind >/dev/null && kind get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER_NAME}"; then
      kind delete cluster --name "${KIND_CLUSTER_NAME}"
    else
      log "no kind cluster named ${KIND_CLUSTER_NAME}"
    fi
    return 0
  fi
  # tools/down.ts refuses any context but the project's kind cluster (or HA_TIER_ALLOW_CONTEXT), and
  # deletes exactly the tier of ${NAMESPACE}, rebuilt from the profile its Namespace records.
  local args=(--namespace "${NAMESPACE}")
  [ "${volumes}" = true ] && args+=(--volumes)
  (cd "${REPO_ROOT}" && npx --no-install tsx tools/down.ts "${args[@]}")
}

main "$@"
