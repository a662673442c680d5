# Shared helpers for the offline lab scripts (sourced, not executed).
#
# Settings (environment, with defaults):
#   LAB_CACHE     where everything the lab builds is kept, by version
#                 (default: ${XDG_CACHE_HOME:-$HOME/.cache}/ha-tier-lab)
#   LAB_LOG_DIR   one log file per step (default: $LAB_CACHE/logs)
#   K8S_VERSION   Kubernetes release built for the node image (default: v1.28.15)
#   KIND_VERSION  kind release (default: v0.26.0)

LAB_CACHE="${LAB_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ha-tier-lab}"
LAB_LOG_DIR="${LAB_LOG_DIR:-${LAB_CACHE}/logs}"
K8S_VERSION="${K8S_VERSION:-v1.28.15}"
KIND_VERSION="${KIND_VERSION:-v0.26.0}"
# Versions of what the node image preloads, as kind v0.26.0 and kubeadm v1.28 ask for them.
ETCD_VERSION="${ETCD_VERSION:-v3.5.15}"
ETCD_IMAGE_TAG="${ETCD_IMAGE_TAG:-3.5.15-0}"
COREDNS_VERSION="${COREDNS_VERSION:-v1.10.1}"
PAUSE_TAG="${PAUSE_TAG:-3.10}"
KINDNETD_TAG="${KINDNETD_TAG:-v20241212-9f82dd49}"
LOCAL_PATH_TAG="${LOCAL_PATH_TAG:-v20241212-8ac705d0}"
LOCAL_PATH_VERSION="${LOCAL_PATH_VERSION:-v0.0.30}"
CRICTL_VERSION="${CRICTL_VERSION:-v1.34.0}"
BASE_IMAGE_TAG="${BASE_IMAGE_TAG:-ha-tier-lab/debian:bookworm}"
# Bump when a recipe under kind/lab/ changes what the kind base or node image holds: cached images
# are looked up by tag, so a new revision makes the next run rebuild them. The network agent
# (kind/lab/kindnetd) is keyed by a hash of its sources instead, so changing it needs no bump.
LAB_REVISION="${LAB_REVISION:-r2}"
# (its tests, *_test.go, are not part of what it builds)
KINDNETD_HASH="$(cd "${REPO_ROOT:-.}/kind/lab/kindnetd" 2>/dev/null && cat $(ls ./*.go | grep -v '_test\.go$') go.mod go.sum 2>/dev/null | sha256sum | cut -c1-10)"
LAB_NODE_IMAGE="${LAB_NODE_IMAGE:-ha-tier-lab/node:${K8S_VERSION}-${LAB_REVISION}-net-${KINDNETD_HASH}}"

LAB_BIN="${LAB_CACHE}/bin-k8s-${K8S_VERSION}-kind-${KIND_VERSION}"
mkdir -p "${LAB_CACHE}" "${LAB_LOG_DIR}" "${LAB_BIN}"

log() { printf '%s\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# run_step NAME CMD...: runs CMD with its output in $LAB_LOG_DIR/NAME.log, prints a progress line
# every 20 s (elapsed time and the log's last line), and on failure ends with one sentence and the
# tail of the log.
run_step() {
  local name="$1"; shift
  local logfile="${LAB_LOG_DIR}/${name}.log"
  local start; start=$(date +%s)
  log "==> ${name} (log: ${logfile})"
  "$@" >"${logfile}" 2>&1 &
  local pid=$!
  while kill -0 "${pid}" 2>/dev/null; do
    local slept=0
    while [ "${slept}" -lt 20 ] && kill -0 "${pid}" 2>/dev/null; do sleep 1; slept=$((slept + 1)); done
    if kill -0 "${pid}" 2>/dev/null; then
      local last; last=$(tail -n 1 "${logfile}" 2>/dev/null | cut -c1-100)
      log "    ... ${name}: $(( $(date +%s) - start ))s ${last:+| ${last}}"
    fi
  done
  local rc=0
  wait "${pid}" || rc=$?
  if [ "${rc}" -ne 0 ]; then
    log "error: step '${name}' failed (exit ${rc}) after $(( $(date +%s) - start ))s; last lines of ${logfile}:"
    tail -n 30 "${logfile}" | sed 's/^/    /' >&2
    return "${rc}"
  fi
  log "    ${name} done in $(( $(date +%s) - start ))s"
}

# True when this machine's capability bounding set lacks CAP_SYS_RESOURCE (capability 24), as on the
# project's Firecracker VMs: privileged containers then need kind/lab/runc-drop-sys-resource, and
# nested containerd must clamp oom_score_adj.
lacks_sys_resource() {
  local bnd
  bnd=$(awk '/^CapBnd:/ {print $2}' /proc/self/status)
  [ -n "${bnd}" ] && [ $(( 0x${bnd} >> 24 & 1 )) -eq 0 ]
}
