#!/usr/bin/env bash
# Makes sure a Docker Engine answers, for the offline lab.
#
# If `docker info` already works (a user's own engine), nothing is touched. Otherwise Debian's
# docker.io is installed when dockerd is missing, and dockerd is started in the background with its
# PID, socket and log under $LAB_CACHE/run, so `kind/lab/down.sh` can stop exactly what was started.
# When this machine's capability bounding set lacks CAP_SYS_RESOURCE (privileged containers would
# fail), dockerd gets kind/lab/runc-drop-sys-resource as its default runtime; elsewhere it does not.
#
# Usage: kind/lab/docker.sh start|stop|status
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=kind/lab/lib.sh
source "${REPO_ROOT}/kind/lab/lib.sh"

RUN_DIR="${LAB_CACHE}/run"
PID_FILE="${RUN_DIR}/dockerd.pid"
DOCKERD_LOG="${LAB_LOG_DIR}/dockerd.log"

engine_answers() { timeout 10 docker info >/dev/null 2>&1; }

install_engine() {
  command -v apt-get >/dev/null || die "dockerd is missing and this is not a Debian-like system: install Docker Engine, then run this again."
  [ "$(id -u)" = 0 ] || die "dockerd is missing; installing it needs root: run 'sudo apt-get install docker.io jq', then this again."
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq docker.io jq
}

start() {
  if engine_answers; then
    log "docker: an engine already answers; using it as it is"
    return 0
  fi
  command -v dockerd >/dev/null && command -v jq >/dev/null || run_step docker-install install_engine
  mkdir -p "${RUN_DIR}"
  local args=(--pidfile "${PID_FILE}" --host unix:///var/run/docker.sock)
  if lacks_sys_resource; then
    log "docker: this machine's capability bounding set lacks CAP_SYS_RESOURCE; privileged containers get a runtime that drops it"
    # A copy outside the work tree, so a deleted checkout does not break the running engine.
    install -m 0755 "${REPO_ROOT}/kind/lab/runc-drop-sys-resource" "${RUN_DIR}/runc-drop-sys-resource"
    args+=(--add-runtime "lab-runc=${RUN_DIR}/runc-drop-sys-resource" --default-runtime lab-runc)
  fi
  log "docker: starting dockerd (log: ${DOCKERD_LOG})"
  nohup dockerd "${args[@]}" >"${DOCKERD_LOG}" 2>&1 </dev/null &
  local i
  for i in $(seq 1 60); do
    engine_answers && { log "docker: engine ready after ${i}s (pid $(cat "${PID_FILE}"))"; return 0; }
    sleep 1
  done
  tail -n 20 "${DOCKERD_LOG}" >&2
  die "dockerd did not answer within 60s; see ${DOCKERD_LOG}"
}

stop() {
  [ -f "${PID_FILE}" ] || { log "docker: the lab did not start dockerd; leaving the engine alone"; return 0; }
  local pid; pid=$(cat "${PID_FILE}")
  if kill -0 "${pid}" 2>/dev/null && grep -q dockerd "/proc/${pid}/cmdline" 2>/dev/null; then
    log "docker: stopping the dockerd the lab started (pid ${pid})"
    kill "${pid}"
    local i
    for i in $(seq 1 30); do kill -0 "${pid}" 2>/dev/null || break; sleep 1; done
    if kill -0 "${pid}" 2>/dev/null; then
      log "docker: dockerd (pid ${pid}) still runs after 30 s; killing it and the containerd it started"
      pkill -KILL -P "${pid}" -x containerd 2>/dev/null || true
      kill -KILL "${pid}" 2>/dev/null || true
    fi
  fi
  rm -f "${PID_FILE}"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) engine_answers && echo "docker: running" || { echo "docker: not running"; exit 1; } ;;
  *) die "usage: kind/lab/docker.sh start|stop|status" ;;
esac
