#!/usr/bin/env bash
# `npm run up`: from nothing to a healthy HA tier on kind, idempotently.
#
#   1. prerequisites (Node deps installed when missing; Docker, kind, kubectl)
#   2. the kind cluster from kind/cluster.yaml, unless it exists (on the project's machines: the
#      offline lab, kind/lab/up.sh)
#   3. the images of images/, built and loaded with `kind load docker-image` (versioned tags)
#   4. synth (dist/: the manifests, and descriptor/tier.json, which the next steps read names from)
#   5. the namespace; the Secrets: generated passwords and certificates from the tier's own CA
#      (tools/credentials.ts: made once, filled in or renewed when needed, never printed); then
#      `kubectl apply -f dist/`
#   6. etcd's users and authentication as soon as etcd answers (tools/reconcile.ts --only etcd); wait
#      until the tier is healthy as its components see it (tools/status.ts --wait), replace the
#      members a changed template left outdated, leader last (tools/rollout.ts: the StatefulSets use
#      OnDelete), then bring the components' own state in line (tools/reconcile.ts: etcd, PostgreSQL
#      roles, Patroni's configuration)
#
# Settings (environment):
#   HA_TIER_PROFILE   kind | minimal | production (default kind); or `npm run up -- --profile NAME`
#   HA_TIER_LAB       1: use the offline lab (kind/lab/); 0: never. Default: the lab when its cache
#                     exists, or when neither a Docker Engine answers nor kind is installed.
#   KIND_NODE_IMAGE   node image for a new cluster (default: kind's own, or the lab's)
#   BASE_IMAGE        base of the project's images (default: debian:bookworm-slim, or the lab's)
#   HA_TIER_WAIT      seconds to wait for health (default 600)
# Usage: kind/bootstrap.sh [--profile NAME]
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# shellcheck source=kind/lab/lib.sh
source "${REPO_ROOT}/kind/lab/lib.sh"

CLUSTER_CONFIG="${REPO_ROOT}/kind/cluster.yaml"
KIND_CLUSTER_NAME="${KIND_CLUSTER_NAME:-$(sed -n 's/^name: *//p' "${CLUSTER_CONFIG}")}"
CONTEXT="kind-${KIND_CLUSTER_NAME}"
PROFILE="${HA_TIER_PROFILE:-kind}"
NAMESPACE="${HA_TIER_NAMESPACE:-ha-tier}"
WAIT_SECONDS="${HA_TIER_WAIT:-600}"
UP_LOG_DIR="${LAB_LOG_DIR}/up"

use_lab() {
  case "${HA_TIER_LAB:-}" in
    1) return 0 ;;
    0) return 1 ;;
  esac
  compgen -G "${LAB_CACHE}/bin-*/kind" >/dev/null && return 0
  ! timeout 10 docker info >/dev/null 2>&1 && ! command -v kind >/dev/null
}

check_prerequisites() {
  command -v node >/dev/null || die "Node.js 20 or later is required (https://nodejs.org)."
  command -v openssl >/dev/null || die "openssl is required to make the tier's certificates (e.g. apt-get install openssl, or brew install openssl)."
  if [ ! -d "${REPO_ROOT}/node_modules/cdk8s" ]; then
    log "    installing npm dependencies (npm ci)"
    (cd "${REPO_ROOT}" && npm ci --no-audit --no-fund >"${UP_LOG_DIR}/npm-ci.log" 2>&1) \
      || { tail -n 20 "${UP_LOG_DIR}/npm-ci.log" >&2; die "npm ci failed; see ${UP_LOG_DIR}/npm-ci.log"; }
  fi
  if [ "${LAB}" = 1 ]; then return 0; fi
  command -v docker >/dev/null || die "Docker is missing: install Docker Engine or Docker Desktop, then run this again."
  timeout 10 docker info >/dev/null 2>&1 || die "Docker is not running: start Docker, then run this again."
  command -v kind >/dev/null || die "kind is missing: install it (https://kind.sigs.k8s.io/docs/user/quick-start/#installation), then run this again."
  command -v kubectl >/dev/null || die "kubectl is missing: install it (https://kubernetes.io/docs/tasks/tools/), then run this again."
}

ensure_cluster() {
  if [ "${LAB}" = 1 ]; then
    "${REPO_ROOT}/kind/lab/up.sh"
    return 0
  fi
  if kind get clusters 2>/dev/null | grep -qx "${KIND_CLUSTER_NAME}"; then
    local have want
    have=$(kind get nodes --name "${KIND_CLUSTER_NAME}" | wc -l)
    want=$(grep -c '^ *- role:' "${CLUSTER_CONFIG}")
    [ "${have}" -eq "${want}" ] || die "a kind cluster named ${KIND_CLUSTER_NAME} exists with ${have} nodes, not the ${want} of kind/cluster.yaml; delete it (npm run down -- --cluster) or set KIND_CLUSTER_NAME."
    kind export kubeconfig --name "${KIND_CLUSTER_NAME}" >/dev/null
    log "    cluster ${KIND_CLUSTER_NAME} exists"
  else
    run_step up-cluster kind create cluster --config "${CLUSTER_CONFIG}" --name "${KIND_CLUSTER_NAME}" \
      ${KIND_NODE_IMAGE:+--image "${KIND_NODE_IMAGE}"} --wait 5m
  fi
}

# Refuse to touch anything unless kubectl points at the project's kind cluster.
check_context() {
  local current; current=$(kubectl config current-context 2>/dev/null || true)
  [ "${current}" = "${CONTEXT}" ] || die "the kube context is '${current:-none}', not '${CONTEXT}'; refusing to touch another cluster (run: kubectl config use-context ${CONTEXT})."
}

build_and_load_images() {
  LAB_LOG_DIR="${UP_LOG_DIR}" "${REPO_ROOT}/images/build.sh"
  local name image
  for name in $(node -p "Object.keys(require('${REPO_ROOT}/images/images.json')).filter(k => !k.startsWith('_')).join(' ')"); do
    image=$(node -p "const i = require('${REPO_ROOT}/images/images.json')['${name}']; i.repository + ':' + i.tag")
    run_step "up-load-${name}" kind load docker-image "${image}" --name "${KIND_CLUSTER_NAME}"
  done
}

# A namespace that runs a tier from before TLS (0.1: plain etcd, PostgreSQL and Redis) cannot be
# changed in place: etcd's members would have to move their peer URLs to https one by one, and every
# client to TLS and its own user at the same moment. Stop before touching it.
refuse_plain_tier() {
  local args
  args=$(kubectl -n "${NAMESPACE}" get statefulset etcd -o jsonpath='{.spec.template.spec.containers[0].args}' 2>/dev/null || true)
  case "${args}" in
    *listen-client-urls=http://*)
      die "namespace ${NAMESPACE} runs a tier from before TLS (etcd serves plain http); it cannot be upgraded in place. Take what you need from it, remove it (npm run down), then run npm run up again (docs/upgrade.md)." ;;
  esac
}

# synth: writes the manifests and tier.json into OUT (dist/ for the default namespace; a second tier,
# e.g. the chaos baseline, gets a directory of its own).
OUT="${REPO_ROOT}/dist"
synth() {
  [ "${NAMESPACE}" = ha-tier ] || OUT="${REPO_ROOT}/.dist-${NAMESPACE}"
  (cd "${REPO_ROOT}" && npx --no-install tsx main.ts --profile "${PROFILE}" --namespace "${NAMESPACE}" --out "${OUT}")
}

# tier_json EXPRESSION: evaluates a JavaScript expression over the descriptor `t` (OUT/descriptor/tier.json).
tier_json() { node -e "const t = require(process.argv[1]); console.log(${1})" "${OUT}/descriptor/tier.json"; }

# StatefulSets created by an earlier version use RollingUpdate, and the server filled in its
# rollingUpdate settings, which `kubectl apply` cannot drop (they were never applied) and which
# Kubernetes refuses next to OnDelete: switch them with a merge patch that removes them.
align_update_strategies() {
  local sts type
  for sts in $(tier_json "t.workloads.filter((w) => w.kind === 'StatefulSet').map((w) => w.name).join(' ')"); do
    type=$(kubectl -n "${NAMESPACE}" get statefulset "${sts}" -o jsonpath='{.spec.updateStrategy.type}' 2>/dev/null || true)
    if [ -n "${type}" ] && [ "${type}" != OnDelete ]; then
      kubectl -n "${NAMESPACE}" patch statefulset "${sts}" --type merge \
        -p '{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}' >/dev/null
      log "    statefulset ${sts}: update strategy ${type} -> OnDelete (npm run up replaces members, leader last)"
    fi
  done
}

main() {
  while [ $# -gt 0 ]; do
    case "$1" in
      --profile) PROFILE="$2"; shift 2 ;;
      --profile=*) PROFILE="${1#--profile=}"; shift ;;
      *) die "unknown argument '$1'; usage: npm run up -- [--profile kind|minimal|production]" ;;
    esac
  done
  mkdir -p "${UP_LOG_DIR}"
  local start; start=$(date +%s)
  LAB=0; use_lab && LAB=1
  if [ "${LAB}" = 1 ]; then
    export PATH="${LAB_BIN}:${PATH}"
    export BASE_IMAGE="${BASE_IMAGE:-${BASE_IMAGE_TAG}}"
    log "==> using the offline lab (kind/lab/; HA_TIER_LAB=0 to use your own Docker and kind)"
  fi
  log "[1/6] prerequisites"
  check_prerequisites
  log "[2/6] kind cluster ${KIND_CLUSTER_NAME}"
  ensure_cluster
  check_context
  log "[3/6] images"
  build_and_load_images
  log "[4/6] synth (profile ${PROFILE})"
  synth
  log "[5/6] namespace ${NAMESPACE}, secrets, apply"
  kubectl get namespace "${NAMESPACE}" >/dev/null 2>&1 || kubectl create namespace "${NAMESPACE}" >/dev/null
  refuse_plain_tier
  # Passwords and certificates (the tier's own CA), made through the API, never shown.
  (cd "${REPO_ROOT}" && npx --no-install tsx tools/credentials.ts --namespace "${NAMESPACE}" --descriptor "${OUT}/descriptor/tier.json")
  align_update_strategies
  local applied; applied=$(date +%s)
  kubectl apply -f "${OUT}/" | sed 's/^/    /' >&2
  log "[6/6] waiting until the tier is healthy (up to ${WAIT_SECONDS}s)"
  # Deployments roll by themselves; StatefulSets (OnDelete) are rolled below, leader last.
  local workload
  for workload in $(tier_json "t.workloads.filter((w) => w.kind === 'Deployment').map((w) => 'deployment/' + w.name).join(' ')"); do
    kubectl -n "${NAMESPACE}" rollout status "${workload}" --timeout="${WAIT_SECONDS}s" 2>&1 | tail -n 1 | sed 's/^/    /' >&2
  done
  # etcd's users and authentication before anything else relies on them.
  (cd "${REPO_ROOT}" && npx --no-install tsx tools/reconcile.ts --namespace "${NAMESPACE}" --only etcd)
  (cd "${REPO_ROOT}" && npx --no-install tsx tools/status.ts --namespace "${NAMESPACE}" --wait "${WAIT_SECONDS}" --no-writes >/dev/null)
  (cd "${REPO_ROOT}" && npx --no-install tsx tools/rollout.ts --namespace "${NAMESPACE}")
  (cd "${REPO_ROOT}" && npx --no-install tsx tools/reconcile.ts --namespace "${NAMESPACE}")
  (cd "${REPO_ROOT}" && npx --no-install tsx tools/status.ts --namespace "${NAMESPACE}" --wait "${WAIT_SECONDS}")
  log "tier healthy ${PROFILE:+(profile ${PROFILE}) }$(( $(date +%s) - applied ))s after apply; npm run up took $(( $(date +%s) - start ))s"
}

main "$@"
