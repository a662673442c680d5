#!/usr/bin/env bash
# build.sh: build the project's container images listed in images/images.json.
#
# Usage: images/build.sh [--force] [name...]
#   name     image key in images/images.json (etcd, patroni, redis); default: all of them
#   --force  rebuild even if the exact repository:tag already exists locally
#
# Environment:
#   BASE_IMAGE   base image passed as --build-arg BASE_IMAGE (default debian:bookworm-slim;
#                in the lab: ha-tier-lab/debian:bookworm)
#   LAB_LOG_DIR  directory of the build logs (default ${TMPDIR:-/tmp}/ha-tier-logs);
#                each build writes image-<name>.log there
#
# Repository, tag and build context of each image come from images/images.json (read with node).
# A context with a requirements.txt (Python wheels, hash-pinned) is copied to a temporary directory and
# gets a wheels/ folder from `pip download` on this host, so the build itself needs no PyPI access.
# An image with a `bundle` (a TypeScript entry point) gets lib/main.cjs from esbuild and proto/ with
# the etcd3 client's protocol files in its temporary context.
# On a failed build it prints one sentence and the last 30 lines of that log, and exits non-zero.
set -o errexit -o nounset -o pipefail

log() { printf '%s\n' "$*" >&2; }

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
manifest="${repo_root}/images/images.json"
log_dir="${LAB_LOG_DIR:-${TMPDIR:-/tmp}/ha-tier-logs}"
base_image="${BASE_IMAGE:-debian:bookworm-slim}"

force=0
names=()
for arg in "$@"; do
  case "${arg}" in
    --force) force=1 ;;
    -h | --help)
      sed -n '2,/^[^#]/{/^#/s/^# \{0,1\}//p}' "${BASH_SOURCE[0]}" >&2
      exit 0
      ;;
    -*)
      log "build.sh: unknown option ${arg} (see --help)"
      exit 2
      ;;
    *) names+=("${arg}") ;;
  esac
done

# manifest_get NAME FIELD: prints images.json[NAME][FIELD] (fails if missing).
manifest_get() {
  node -p -e '
    const m = require(process.argv[1]);
    const e = m[process.argv[2]];
    if (!e || typeof e !== "object" || !e[process.argv[3]]) {
      throw new Error(`images.json has no ${process.argv[3]} for image "${process.argv[2]}"`);
    }
    e[process.argv[3]];
  ' "${manifest}" "$1" "$2"
}

if [[ ${#names[@]} -eq 0 ]]; then
  mapfile -t names < <(node -p -e '
    const m = require(process.argv[1]);
    Object.keys(m).filter((k) => !k.startsWith("_")).join("\n");
  ' "${manifest}")
fi

mkdir -p "${log_dir}"
cd "${repo_root}"
temp_dirs=()
cleanup() { [[ ${#temp_dirs[@]} -eq 0 ]] || rm -rf "${temp_dirs[@]}"; }
trap cleanup EXIT

for name in "${names[@]}"; do
  if ! repository="$(manifest_get "${name}" repository 2>/dev/null)" ||
    ! tag="$(manifest_get "${name}" tag 2>/dev/null)" ||
    ! context="$(manifest_get "${name}" context 2>/dev/null)"; then
    log "build.sh: image \"${name}\" is not fully described (repository, tag, context) in ${manifest}."
    exit 1
  fi
  image="${repository}:${tag}"
  log_file="${log_dir}/image-${name}.log"

  if [[ "${force}" -eq 0 ]] && docker image inspect "${image}" >/dev/null 2>&1; then
    log "[${name}] ${image} already exists, skipped (use --force to rebuild)"
    continue
  fi

  log "[${name}] building ${image} from ${context} (base ${base_image}), log: ${log_file}"
  started="${SECONDS}"
  build_context="${context}"
  : >"${log_file}"
  bundle="$(manifest_get "${name}" bundle 2>/dev/null || true)"
  if [[ -f "${context}/requirements.txt" || -n "${bundle}" ]]; then
    build_context="$(mktemp -d)"
    temp_dirs+=("${build_context}")
    cp -r "${context}/." "${build_context}/"
  fi
  if [[ -n "${bundle}" ]]; then
    mkdir -p "${build_context}/lib" "${build_context}/proto"
    # One bundling definition (tools/images.ts), so the lock hashes what the image runs.
    if ! npx --no-install tsx tools/images.ts bundle "${bundle}" "${build_context}/lib/main.cjs" >>"${log_file}" 2>&1; then
      log "build.sh: esbuild could not bundle ${bundle}; last lines of ${log_file}:"
      tail -n 20 "${log_file}" >&2
      exit 1
    fi
    cp node_modules/etcd3/proto/*.proto "${build_context}/proto/"
  fi
  if [[ -f "${context}/requirements.txt" ]]; then
    mkdir -p "${build_context}/wheels"
    if ! python3 -m pip download --quiet --no-deps --require-hashes -r "${context}/requirements.txt" \
      -d "${build_context}/wheels" >>"${log_file}" 2>&1; then
      log "build.sh: pip could not download the wheels of ${context}/requirements.txt; last lines of ${log_file}:"
      tail -n 20 "${log_file}" >&2
      exit 1
    fi
  fi
  if ! docker build --build-arg BASE_IMAGE="${base_image}" -t "${image}" "${build_context}" >>"${log_file}" 2>&1; then
    log "build.sh: building ${image} failed after $((SECONDS - started)) s; last 30 lines of ${log_file}:"
    tail -n 30 "${log_file}" >&2
    exit 1
  fi
  log "[${name}] built ${image} in $((SECONDS - started)) s"
done
