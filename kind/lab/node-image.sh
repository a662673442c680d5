#!/usr/bin/env bash
# Builds a kind node image for Kubernetes $K8S_VERSION with no container registry, tagged
# $LAB_NODE_IMAGE (default ha-tier-lab/node:$K8S_VERSION-$LAB_REVISION). Steps, each skipped when its result exists:
#   1. the lab's kind base image (kind's base, with Debian's containerd/runc/CNI plugins);
#   2. component images (control plane, kube-proxy, etcd, CoreDNS, pause, kindnetd, local-path)
#      from the binaries of kind/lab/build-binaries.sh, tagged with the names kubeadm and kind use;
#   3. a "preloaded" base: the kind base with those images already in containerd's k8s.io namespace;
#   4. `kind build node-image --type file` on a Kubernetes server tarball assembled from our binaries.
#      kind's builder writes its own manifests and /kind/version exactly as upstream; its pulls of the
#      preloaded images fail harmlessly (offline) and the images already present are kept;
#   5. one layer over kind's result: its CNI manifest with the agent's resources raised (kind's 50Mi /
#      100m fit its own small kindnetd, not an agent that also runs a NetworkPolicy engine).
# The network agent (kindnetd) and everything built from it are keyed by a hash of its sources.
#
# Usage: kind/lab/node-image.sh
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=kind/lab/lib.sh
source "${REPO_ROOT}/kind/lab/lib.sh"

KIND_BASE_TAG="ha-tier-lab/kind-base:${KIND_VERSION}-${LAB_REVISION}"
PRELOADED_TAG="ha-tier-lab/kind-base:${KIND_VERSION}-${LAB_REVISION}-preloaded-${K8S_VERSION}-net-${KINDNETD_HASH}"
KINDNETD_BIN="kindnetd-${KINDNETD_HASH}"
IMAGES_DIR="${LAB_CACHE}/images/${K8S_VERSION}"
KIND_MODULE_DIR=""

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

kind_module_dir() {
  GOFLAGS=-mod=mod go mod download -json "sigs.k8s.io/kind@${KIND_VERSION}" | sed -n 's/^\s*"Dir": "\(.*\)",$/\1/p'
}

build_kind_base() {
  local ctx; ctx=$(mktemp -d)
  trap 'rm -rf "${ctx}"' RETURN
  cp -r "${KIND_MODULE_DIR}/images/base/files" "${ctx}/files"
  chmod -R u+w "${ctx}/files"
  cp "${LAB_BIN}/crictl" "${ctx}/crictl"
  local restrict=false
  lacks_sys_resource && restrict=true
  docker build --build-arg "BASE_IMAGE=${BASE_IMAGE_TAG}" --build-arg "RESTRICT_OOM_SCORE_ADJ=${restrict}" \
    -t "${KIND_BASE_TAG}" -f "${REPO_ROOT}/kind/lab/images/kind-base.Dockerfile" "${ctx}"
}

build_kindnetd() {
  cd "${REPO_ROOT}/kind/lab/kindnetd"
  CGO_ENABLED=0 go build -trimpath -ldflags "-s -w" -o "${LAB_BIN}/${KINDNETD_BIN}.tmp" .
  mv "${LAB_BIN}/${KINDNETD_BIN}.tmp" "${LAB_BIN}/${KINDNETD_BIN}"
}

# component TARGET TAG [BIN]: builds one stage of components.Dockerfile and saves it to a tar.
component() {
  local target="$1" tag="$2" bin="${3:-}" tar
  tar="$(component_tar "${tag}" "${bin}")"
  [ -f "${tar}" ] && return 0
  echo "building ${tag}"
  docker build --build-arg "BASE_IMAGE=${BASE_IMAGE_TAG}" ${bin:+--build-arg "BIN=${bin}"} \
    --target "${target}" -t "${tag}" -f "${REPO_ROOT}/kind/lab/images/components.Dockerfile" "${LAB_BIN}"
  docker save -o "${tar}.tmp" "${tag}"
  mv "${tar}.tmp" "${tar}"
}

build_components() {
  mkdir -p "${IMAGES_DIR}"
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler; do
    component control-plane "registry.k8s.io/${c}:${K8S_VERSION}" "${c}"
  done
  component kube-proxy "registry.k8s.io/kube-proxy:${K8S_VERSION}"
  component etcd "registry.k8s.io/etcd:${ETCD_IMAGE_TAG}"
  component coredns "registry.k8s.io/coredns/coredns:${COREDNS_VERSION}"
  component pause "registry.k8s.io/pause:${PAUSE_TAG}"
  component kindnetd "docker.io/kindest/kindnetd:${KINDNETD_TAG}" "${KINDNETD_BIN}"
  component local-path-provisioner "docker.io/kindest/local-path-provisioner:${LOCAL_PATH_TAG}"
  component local-path-helper "docker.io/kindest/local-path-helper:${LOCAL_PATH_TAG}"
}

# component_tar TAG [BIN]: where the image of TAG is saved; the agent's carries its source hash.
component_tar() {
  local name; name="$(echo "$1" | tr '/:' '__')"
  [[ "${2:-}" == kindnetd-* ]] && name="${name}-${2}"
  echo "${IMAGES_DIR}/${name}.tar"
}

# The images kind's builder would pull; they go into the base's containerd store up front.
preloaded_tars() {
  local t
  for t in "registry.k8s.io/etcd:${ETCD_IMAGE_TAG}" "registry.k8s.io/coredns/coredns:${COREDNS_VERSION}" \
    "registry.k8s.io/pause:${PAUSE_TAG}" \
    "docker.io/kindest/local-path-provisioner:${LOCAL_PATH_TAG}" "docker.io/kindest/local-path-helper:${LOCAL_PATH_TAG}"; do
    component_tar "${t}"
  done
  component_tar "docker.io/kindest/kindnetd:${KINDNETD_TAG}" "${KINDNETD_BIN}"
}

build_preloaded_base() {
  local cid
  cid=$(docker run -d --privileged --entrypoint sleep "${KIND_BASE_TAG}" infinity)
  trap 'docker rm -f "${cid}" >/dev/null 2>&1 || true' RETURN
  docker exec "${cid}" bash -c 'nohup containerd >/tmp/containerd.log 2>&1 &'
  local i
  for i in $(seq 1 30); do docker exec "${cid}" ctr version >/dev/null 2>&1 && break; sleep 1; done
  local tar
  while read -r tar; do
    echo "importing $(basename "${tar}")"
    docker exec -i "${cid}" ctr --namespace=k8s.io images import --label=io.cri-containerd.pinned=pinned \
      --all-platforms --no-unpack --digests - <"${tar}"
    # pause is also asked for under its previous tag by some tools
  done < <(preloaded_tars)
  docker exec "${cid}" ctr --namespace=k8s.io images tag --force "registry.k8s.io/pause:${PAUSE_TAG}" registry.k8s.io/pause:3.9
  docker exec "${cid}" ctr --namespace=k8s.io images list -q
  docker exec "${cid}" pkill containerd
  sleep 2
  docker commit \
    --change 'ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]' --change 'CMD []' \
    "${cid}" "${PRELOADED_TAG}"
}

server_tarball() {
  local dir; dir=$(mktemp -d)
  trap 'rm -rf "${dir}"' RETURN
  local bin="${dir}/kubernetes/server/bin"
  mkdir -p "${bin}"
  echo "${K8S_VERSION}" >"${dir}/kubernetes/version"
  cp "${LAB_BIN}/kubeadm" "${LAB_BIN}/kubelet" "${LAB_BIN}/kubectl" "${bin}/"
  local c
  for c in kube-apiserver kube-controller-manager kube-scheduler kube-proxy; do
    cp "${IMAGES_DIR}/registry.k8s.io_${c}_${K8S_VERSION}.tar" "${bin}/${c}.tar"
    echo "${K8S_VERSION}" >"${bin}/${c}.docker_tag"
  done
  tar -C "${dir}" -czf "${IMAGES_DIR}/kubernetes-server-linux-amd64.tar.gz" kubernetes
}

kind_build() {
  "${LAB_BIN}/kind" build node-image --type file --base-image "${PRELOADED_TAG}" \
    --image "${LAB_NODE_IMAGE}-kind" "${IMAGES_DIR}/kubernetes-server-linux-amd64.tar.gz"
}

# The agent runs a NetworkPolicy engine (client-go informers, a packet queue): give it room, and no
# CPU limit (a throttled agent delays every new connection's verdict). The rest of kind's manifest
# stays as kind wrote it.
customize_node_image() {
  local ctx; ctx=$(mktemp -d)
  trap 'rm -rf "${ctx}"' RETURN
  docker run --rm --entrypoint cat "${LAB_NODE_IMAGE}-kind" /kind/manifests/default-cni.yaml >"${ctx}/kind-cni.yaml"
  # Only the container's resources (the ClusterRole's rules have `resources:` lines too).
  awk '
    /^ *containers:$/ { incontainers = 1 }
    incontainers && /^ *resources:$/ && !done { indent = $0; sub(/resources:.*/, "", indent); skip = 1; done = 1
      print indent "resources:"; print indent "  requests:"; print indent "    cpu: \"100m\""; print indent "    memory: \"64Mi\""
      print indent "  limits:"; print indent "    memory: \"256Mi\""; next }
    skip && /^ *securityContext:$/ { skip = 0 }
    !skip { print }' "${ctx}/kind-cni.yaml" >"${ctx}/default-cni.yaml"
  grep -q 'memory: "256Mi"' "${ctx}/default-cni.yaml" || die "could not raise the agent's resources in kind's CNI manifest"
  printf 'FROM %s\nCOPY default-cni.yaml /kind/manifests/default-cni.yaml\n' "${LAB_NODE_IMAGE}-kind" >"${ctx}/Dockerfile"
  docker build -t "${LAB_NODE_IMAGE}" "${ctx}"
}

main() {
  if image_exists "${LAB_NODE_IMAGE}"; then
    log "node image ${LAB_NODE_IMAGE} already present"
    return 0
  fi
  KIND_MODULE_DIR=$(kind_module_dir)
  [ -d "${KIND_MODULE_DIR}/images/base/files" ] || die "could not find kind ${KIND_VERSION}'s base files in the Go module cache"
  image_exists "${KIND_BASE_TAG}" || run_step node-kind-base build_kind_base
  [ -x "${LAB_BIN}/${KINDNETD_BIN}" ] || run_step node-kindnetd build_kindnetd
  run_step node-components build_components
  image_exists "${PRELOADED_TAG}" || run_step node-preload build_preloaded_base
  [ -f "${IMAGES_DIR}/kubernetes-server-linux-amd64.tar.gz" ] || run_step node-server-tarball server_tarball
  image_exists "${LAB_NODE_IMAGE}-kind" || run_step node-kind-build kind_build
  run_step node-customize customize_node_image
  log "node image ready: ${LAB_NODE_IMAGE}"
}

main "$@"
