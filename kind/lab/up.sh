#!/usr/bin/env bash
# `npm run lab:up`: takes a machine with no container registry to a running kind cluster from
# kind/cluster.yaml (1 control plane + 3 workers), with kubectl pointed at it.
#
# Steps (each reuses what the cache under $LAB_CACHE already has; logs in $LAB_LOG_DIR):
#   1. Docker Engine: use the running one, else install/start Debian's (kind/lab/docker.sh)
#   2. binaries from the Go module proxy: kind, Kubernetes, etcd, CoreDNS, ... (build-binaries.sh)
#   3. Debian bookworm base image by debootstrap (base-image.sh)
#   4. kind node image with every image preloaded (node-image.sh)
#   5. kind and kubectl on PATH (in /usr/local/bin) when missing or of a version that does not fit
#   6. the cluster, unless it already exists with the nodes kind/cluster.yaml asks for
# The lab's network agent enforces NetworkPolicies through the iptables NFQUEUE target; without it
# (or without nfnetlink_queue) policies could not be enforced, and the lab refuses to start.
#
# Settings: KIND_NODE_IMAGE (node image to use instead of building one), KIND_CLUSTER_NAME
# (default: the name in kind/cluster.yaml), and those in kind/lab/lib.sh.
# Usage: kind/lab/up.sh
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=kind/lab/lib.sh
source "${REPO_ROOT}/kind/lab/lib.sh"

CLUSTER_CONFIG="${REPO_ROOT}/kind/cluster.yaml"
KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-$(sed -n 's/^name: *//p' "${CLUSTER_CONFIG}")}"
KIND_NODE_IMAGE="${KIND_NODE_IMAGE:-${LAB_NODE_IMAGE}}"
export PATH="${LAB_BIN}:${PATH}"

nodes_running() {
  local node
  for node in $(kind get nodes --name "${KIND_CLUSTER_NAME}"); do
    [ "$(docker inspect -f '{{.State.Running}}' "${node}" 2>/dev/null)" = true ] || return 1
  done
}

expected_nodes() { grep -c '^ *- role:' "${CLUSTER_CONFIG}"; }

install_tools() {
  local tool
  for tool in kind kubectl; do
    local current
    # The lab's binaries are on PATH inside this script; look at what a user's shell finds.
    local user_path; user_path=$(printf '%s' "${PATH}" | tr ':' '\n' | grep -vxF "${LAB_BIN}" | paste -sd: -)
    current=$(PATH="${user_path}" command -v "${tool}" 2>/dev/null || true)
    local fits=false
    if [ -n "${current}" ]; then
      case "${tool}" in
        kind) "${current}" version 2>/dev/null | grep -q "kind ${KIND_VERSION} " && fits=true ;;
        kubectl) "${current}" version --client -o json 2>/dev/null | grep -q "\"gitVersion\": \"${K8S_VERSION%.*}" && fits=true ;;
      esac
    fi
    if [ "${fits}" = false ]; then
      if [ -w /usr/local/bin ]; then
        ln -sf "${LAB_BIN}/${tool}" "/usr/local/bin/${tool}"
        log "    installed ${tool} into /usr/local/bin (was: ${current:-missing})"
      else
        log "    ${tool}: add ${LAB_BIN} to your PATH (${current:-missing} does not fit)"
      fi
    fi
  done
}

create_cluster() {
  sysctl_at_least fs.inotify.max_user_instances 512
  sysctl_at_least fs.inotify.max_user_watches 524288
  kind create cluster --config "${CLUSTER_CONFIG}" --name "${KIND_CLUSTER_NAME}" \
    --image "${KIND_NODE_IMAGE}" --wait 5m
}

# kind's known issue with several nodes: too few inotify instances make kubelets fail.
sysctl_at_least() {
  local key="$1" want="$2" have
  have=$(sysctl -n "${key}")
  if [ "${have}" -lt "${want}" ]; then
    sysctl -w "${key}=${want}" >/dev/null 2>&1 || log "warning: ${key} is ${have}; kind needs ${want} (run: sudo sysctl -w ${key}=${want})"
  fi
}

# The kernel features NetworkPolicy enforcement needs; one sentence and a non-zero exit without them.
check_policy_kernel() {
  if ! grep -qx NFQUEUE /proc/net/ip_tables_targets 2>/dev/null || [ ! -e /proc/net/netfilter/nfnetlink_queue ]; then
    modprobe -q xt_NFQUEUE 2>/dev/null || true
    modprobe -q nfnetlink_queue 2>/dev/null || true
  fi
  grep -qx NFQUEUE /proc/net/ip_tables_targets 2>/dev/null ||
    die "this kernel has no iptables NFQUEUE target (CONFIG_NETFILTER_XT_TARGET_NFQUEUE), so the lab could not enforce NetworkPolicies; refusing to start a lab that would let every connection through."
  [ -e /proc/net/netfilter/nfnetlink_queue ] ||
    die "this kernel has no nfnetlink_queue (CONFIG_NETFILTER_NETLINK_QUEUE), so the lab could not enforce NetworkPolicies; refusing to start a lab that would let every connection through."
}

main() {
  local start; start=$(date +%s)
  check_policy_kernel
  log "[1/6] Docker Engine"
  "${REPO_ROOT}/kind/lab/docker.sh" start
  log "[2/6] binaries (cache: ${LAB_BIN})"
  "${REPO_ROOT}/kind/lab/build-binaries.sh"
  log "[3/6] Debian base image"
  "${REPO_ROOT}/kind/lab/base-image.sh"
  log "[4/6] node image"
  if [ "${KIND_NODE_IMAGE}" = "${LAB_NODE_IMAGE}" ]; then
    "${REPO_ROOT}/kind/lab/node-image.sh"
  else
    docker image inspect "${KIND_NODE_IMAGE}" >/dev/null 2>&1 || die "KIND_NODE_IMAGE ${KIND_NODE_IMAGE} is not in the local engine."
    log "using KIND_NODE_IMAGE=${KIND_NODE_IMAGE}"
  fi
  log "[5/6] kind and kubectl"
  install_tools
  log "[6/6] cluster ${KIND_CLUSTER_NAME}"
  if kind get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER_NAME}" && ! nodes_running; then
    # After Docker itself restarted (a new session, a reboot), kind's nodes stay stopped: recreate.
    log "cluster ${KIND_CLUSTER_NAME} exists but its nodes are not running; recreating it"
    kind delete cluster --name "${KIND_CLUSTER_NAME}" >/dev/null
  fi
  if kind get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER_NAME}"; then
    local have; have=$(kind get nodes --name "${KIND_CLUSTER_NAME}" | wc -l)
    [ "${have}" -eq "$(expected_nodes)" ] || die "cluster ${KIND_CLUSTER_NAME} exists with ${have} nodes but kind/cluster.yaml asks for $(expected_nodes); delete it with 'npm run lab:down' first."
    # A cluster made from another node image (an older network agent, say) is not what this lab builds.
    local image; image=$(docker inspect -f '{{.Config.Image}}' "${KIND_CLUSTER_NAME}-control-plane" 2>/dev/null || true)
    [ -z "${image}" ] || [ "${image}" = "${KIND_NODE_IMAGE}" ] || die "cluster ${KIND_CLUSTER_NAME} runs node image ${image}, not ${KIND_NODE_IMAGE} (this lab's); delete it with 'npm run lab:down' and run this again."
    log "cluster ${KIND_CLUSTER_NAME} already exists; exporting its kubeconfig"
    kind export kubeconfig --name "${KIND_CLUSTER_NAME}" >/dev/null
  else
    run_step cluster-create create_cluster
  fi
  kubectl config use-context "kind-${KIND_CLUSTER_NAME}" >/dev/null
  kubectl wait --for=condition=Ready nodes --all --timeout=180s >/dev/null \
    || die "nodes did not become Ready within 180s: $(kubectl get nodes --no-headers | tr '\n' ';')"
  log "lab ready in $(( $(date +%s) - start ))s: $(kubectl get nodes --no-headers | wc -l) nodes Ready, context kind-${KIND_CLUSTER_NAME}, Kubernetes ${K8S_VERSION}"
}

main "$@"
