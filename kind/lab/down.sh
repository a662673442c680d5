#!/usr/bin/env bash
# `npm run lab:down`: deletes the lab's kind cluster and stops the dockerd that kind/lab/docker.sh
# started (by its PID file; an engine the lab did not start is left alone). The cache stays; remove
# $LAB_CACHE by hand to rebuild everything from scratch. A node a chaos trial left frozen is thawed
# first (kind/lab/thaw.sh), and no step waits for ever on an engine that stopped answering.
#
# Usage: kind/lab/down.sh [--keep-docker]
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=kind/lab/lib.sh
source "${REPO_ROOT}/kind/lab/lib.sh"

KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-$(sed -n 's/^name: *//p' "${REPO_ROOT}/kind/cluster.yaml")}"

main() {
  local keep_docker=false
  [ "${1:-}" = "--keep-docker" ] && keep_docker=true
  "${REPO_ROOT}/kind/lab/thaw.sh" --cluster "${KIND_CLUSTER_NAME}" || log "warning: a node of ${KIND_CLUSTER_NAME} could not be thawed (above)"
  if timeout 10 docker info >/dev/null 2>&1 && [ -x "${LAB_BIN}/kind" ]; then
    if timeout 30 "${LAB_BIN}/kind" get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER_NAME}"; then
      log "deleting kind cluster ${KIND_CLUSTER_NAME}"
      timeout 180 "${LAB_BIN}/kind" delete cluster --name "${KIND_CLUSTER_NAME}" || log "warning: kind delete cluster did not finish within 180 s"
    else
      log "no kind cluster named ${KIND_CLUSTER_NAME}"
    fi
  fi
  [ "${keep_docker}" = true ] || "${REPO_ROOT}/kind/lab/docker.sh" stop
}

main "$@"
