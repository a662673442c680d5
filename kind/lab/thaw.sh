#!/usr/bin/env bash
# Brings a frozen kind node back: `docker unpause`, and when the engine cannot (it answers
# "context deadline exceeded", or hangs), the node's freezer cgroup is thawed directly. A node
# frozen by a chaos trial must never outlive the trial or the CI run, whatever state dockerd is in.
#
# The node's cgroup is found without asking dockerd: the container whose first process has the
# node's name as its hostname (kind names each node's hostname after its container).
# cgroup v1 (freezer.state) and v2 (cgroup.freeze) are both handled.
#
# Usage: kind/lab/thaw.sh NODE...        (exit 0 when every node runs; 1 and one line each otherwise)
#        kind/lab/thaw.sh --cluster NAME (every node of that kind cluster that docker says is paused)
set -o nounset -o pipefail

log() { printf '%s\n' "$*" >&2; }

# One line per docker container with a cgroup here: its hostname (kind names each node's hostname
# after its container), a tab, and its freezer control file (cgroup v1 freezer.state, v2 cgroup.freeze).
node_cgroups() {
  local dir pid name
  for dir in /sys/fs/cgroup/freezer/docker/*/ /sys/fs/cgroup/system.slice/docker-*.scope/ /sys/fs/cgroup/docker/*/; do
    [ -d "${dir}" ] || continue
    pid=$(head -n 1 "${dir}cgroup.procs" 2>/dev/null)
    [ -n "${pid}" ] || continue
    name=$(cat "/proc/${pid}/root/etc/hostname" 2>/dev/null) || continue
    if [ -f "${dir}freezer.state" ]; then printf '%s\t%s\n' "${name}" "${dir}freezer.state"; else printf '%s\t%s\n' "${name}" "${dir}cgroup.freeze"; fi
  done
}

# The freezer control file of the node named $1, or nothing.
freezer_file() {
  node_cgroups | awk -F '\t' -v node="$1" '$1 == node { print $2; exit }'
}

frozen() {
  local file="$1"
  case "${file}" in
    *freezer.state) [ "$(cat "${file}")" != THAWED ] ;;
    *) [ "$(cat "${file}")" = 1 ] ;;
  esac
}

# thaw_one NODE: docker unpause (three tries), then, whatever dockerd said, the node's cgroup is
# checked: a pause that failed half way can leave it frozen while dockerd records it as running.
thaw_one() {
  local node="$1" try out engine_ok=false
  for try in 1 2 3; do
    if out=$(timeout 30 docker unpause "${node}" 2>&1); then engine_ok=true; break; fi
    case "${out}" in
      *"is not paused"*) engine_ok=true; break ;;
      # dockerd records it as paused, runc finds it running: see resync below.
      *"container not paused"*) break ;;
    esac
    log "thaw: docker unpause ${node} failed (try ${try}): ${out:-timed out after 30 s}"
    sleep 2
  done
  local file; file=$(freezer_file "${node}")
  if [ -z "${file}" ]; then
    [ "${engine_ok}" = true ] && return 0
    log "thaw: ${node}: dockerd could not unpause it and no cgroup of a container named ${node} was found; thaw it by hand (echo THAWED > /sys/fs/cgroup/freezer/docker/<id>/freezer.state)"
    return 1
  fi
  if frozen "${file}"; then
    log "thaw: ${node}: its cgroup is still frozen; thawing it directly (${file})"
    set_freezer "${file}" thaw || return 1
  fi
  resync "${node}" "${file}"
}

# set_freezer FILE freeze|thaw: writes the cgroup's freezer and waits (10 s at most) until it took.
set_freezer() {
  local file="$1" want="$2" i
  case "${file}:${want}" in
    *freezer.state:thaw) echo THAWED >"${file}" ;;
    *freezer.state:freeze) echo FROZEN >"${file}" ;;
    *:thaw) echo 0 >"${file}" ;;
    *:freeze) echo 1 >"${file}" ;;
  esac
  for i in $(seq 1 20); do
    if [ "${want}" = thaw ]; then frozen "${file}" || return 0; else frozen "${file}" && return 0; fi
    sleep 0.5
  done
  log "thaw: ${file} did not ${want} within 10 s"
  return 1
}

# resync NODE FILE: a pause that timed out half way can leave dockerd recording the node as paused
# while its cgroup runs: dockerd then refuses exec and pause, and unpause fails with "container not
# paused". Freezing the cgroup for a moment lets `docker unpause` complete and clear the record.
resync() {
  local node="$1" file="$2"
  [ "$(timeout 10 docker inspect -f '{{.State.Paused}}' "${node}" 2>/dev/null)" = true ] || return 0
  log "thaw: ${node}: dockerd still records it as paused while it runs; freezing it for a moment so docker unpause clears that"
  set_freezer "${file}" freeze || { set_freezer "${file}" thaw; return 1; }
  if timeout 30 docker unpause "${node}" >/dev/null 2>&1 && ! frozen "${file}"; then return 0; fi
  log "thaw: ${node}: docker unpause failed again; thawing its cgroup directly"
  set_freezer "${file}" thaw || return 1
  # The node runs; only dockerd's record is wrong, and dockerd has been seen to clear it by itself
  # minutes later (once its pending pause gives up). Wait for that before giving up.
  local waited
  for waited in $(seq 10 10 "${THAW_RECORD_WAIT_SECONDS:-300}"); do
    sleep 10
    if [ "$(timeout 10 docker inspect -f '{{.State.Paused}}' "${node}" 2>/dev/null)" = false ]; then
      log "thaw: ${node}: dockerd cleared its record after ${waited} s"
      return 0
    fi
    log "thaw: ${node}: dockerd still records it as paused (${waited} s)"
  done
  log "thaw: ${node}: the node runs but dockerd still records it as paused; restart dockerd"
  return 1
}

# The names of every node with a cgroup here whose name starts with $1 (a kind cluster's nodes).
cgroup_nodes() {
  node_cgroups | awk -F '\t' -v prefix="$1" 'index($1, prefix) == 1 { print $1 }'
}

main() {
  local nodes=()
  if [ "${1:-}" = "--cluster" ]; then
    # Which nodes: dockerd's word when it answers, the cgroups' when it does not.
    local cluster="${2:?usage: thaw.sh --cluster NAME}" name file
    for name in $(cgroup_nodes "${cluster}-"); do
      file=$(freezer_file "${name}")
      if { [ -n "${file}" ] && frozen "${file}"; } || [ "$(timeout 10 docker inspect -f '{{.State.Paused}}' "${name}" 2>/dev/null)" = true ]; then
        nodes+=("${name}")
      fi
    done
  else
    nodes=("$@")
  fi
  local node rc=0
  for node in "${nodes[@]}"; do
    thaw_one "${node}" || rc=1
  done
  return "${rc}"
}

main "$@"
