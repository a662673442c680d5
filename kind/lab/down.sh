#!/usr/bin/env bash
# `npm run lab:down`: deletes the lab's kind cluster and stops the dockerd that kind/lab/docker.sh
# started (by its PID file; an engine the lab did not start is left alone). The cache stays; remove
# $LAB_CACHE by hand to rebuild everything from scratch.
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
  if timeout 10 docker info >/dev/null 2>&1 && [ -x "${LAB_BIN}/kind" ]; then
    if "${LAB_BIN}/kind" get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER_NAME}"; then
      log "deleting kind cluster ${KIND_CLUSTER_NAME}"
      "${LAB_BIN}/kind" delete cluster --name "${KIND_CLUSTER_NAME}"
    else
      log "no kind cluster named ${KIND_CLUSTER_NAME}"
    fi
  fi
  [ "${keep_docker}" = true ] || "${REPO_ROOT}/kind/lab/docker.sh" stop
}

main "$@"
