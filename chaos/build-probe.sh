#!/usr/bin/env bash
# Builds the chaos probe image (images/chaos-probe) and loads it into the kind cluster, unless a node
# already has this exact build. The tag is the content hash of the bundle, so a changed probe gets a
# new tag and an unchanged one is not rebuilt. Prints the image name on stdout.
#
# Usage: chaos/build-probe.sh      (BASE_IMAGE, KIND_CLUSTER_NAME as for npm run up)
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=kind/lab/lib.sh
source "${REPO_ROOT}/kind/lab/lib.sh"
export PATH="${PATH}:${LAB_BIN}"
KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-$(sed -n 's/^name: *//p' "${REPO_ROOT}/kind/cluster.yaml")}"
if [ -z "${BASE_IMAGE:-}" ] && docker image inspect "${BASE_IMAGE_TAG}" >/dev/null 2>&1; then
  BASE_IMAGE="${BASE_IMAGE_TAG}"
fi

main() {
  ctx=$(mktemp -d)
  trap 'rm -rf "${ctx}"' EXIT
  mkdir -p "${ctx}/lib" "${ctx}/proto"
  (cd "${REPO_ROOT}" && npx --no-install tsx tools/images.ts bundle chaos/probe/probe.ts "${ctx}/lib/probe.cjs")
  cp "${REPO_ROOT}"/node_modules/etcd3/proto/*.proto "${ctx}/proto/"
  cp "${REPO_ROOT}/images/chaos-probe/Dockerfile" "${ctx}/Dockerfile"
  local hash; hash=$(cat "${ctx}/lib/probe.cjs" "${ctx}/Dockerfile" | sha256sum | cut -c1-12)
  local image="ha-tier/chaos-probe:${hash}"
  if ! docker image inspect "${image}" >/dev/null 2>&1; then
    log "chaos: building ${image} (log: ${LAB_LOG_DIR}/chaos-probe-build.log)"
    docker build --build-arg "BASE_IMAGE=${BASE_IMAGE:-debian:bookworm-slim}" -t "${image}" "${ctx}" \
      >"${LAB_LOG_DIR}/chaos-probe-build.log" 2>&1 \
      || { tail -n 30 "${LAB_LOG_DIR}/chaos-probe-build.log" >&2; die "the chaos probe image did not build"; }
  fi
  kind load docker-image "${image}" --name "${KIND_CLUSTER_NAME}" >"${LAB_LOG_DIR}/chaos-probe-load.log" 2>&1 \
    || { tail -n 20 "${LAB_LOG_DIR}/chaos-probe-load.log" >&2; die "kind could not load ${image}"; }
  echo "${image}"
}

main "$@"
