#!/usr/bin/env bash
# Builds the lab's Debian bookworm base image with debootstrap and imports it into Docker as
# $BASE_IMAGE_TAG (default ha-tier-lab/debian:bookworm). It stands in for the official
# debian:bookworm-slim image, which cannot be pulled here; the rootfs tarball is cached, so a second
# run only re-imports it when the image is gone.
#
# Usage: kind/lab/base-image.sh
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=kind/lab/lib.sh
source "${REPO_ROOT}/kind/lab/lib.sh"

ROOTFS_TAR="${LAB_CACHE}/images/debian-bookworm-minbase.tar"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

debootstrap_rootfs() {
  command -v debootstrap >/dev/null || { apt-get update -qq && apt-get install -y -qq debootstrap; }
  local dir; dir=$(mktemp -d "${LAB_CACHE}/images/rootfs.XXXXXX")
  # Always name the release: "stable" has moved on to trixie.
  debootstrap --variant=minbase bookworm "${dir}" "${MIRROR}"
  # Small-image habits of the official slim image: no apt caches, no docs to keep.
  rm -rf "${dir}"/var/cache/apt/archives/*.deb "${dir}"/var/lib/apt/lists/*
  printf 'deb %s bookworm main\ndeb %s bookworm-updates main\ndeb http://deb.debian.org/debian-security bookworm-security main\n' \
    "${MIRROR}" "${MIRROR}" >"${dir}/etc/apt/sources.list"
  tar -C "${dir}" --numeric-owner -cf "${ROOTFS_TAR}.tmp" .
  rm -rf "${dir}"
  mv "${ROOTFS_TAR}.tmp" "${ROOTFS_TAR}"
}

import_image() {
  docker import --change 'CMD ["bash"]' "${ROOTFS_TAR}" "${BASE_IMAGE_TAG}"
}

main() {
  mkdir -p "${LAB_CACHE}/images"
  if docker image inspect "${BASE_IMAGE_TAG}" >/dev/null 2>&1; then
    log "base image ${BASE_IMAGE_TAG} already present"
    return 0
  fi
  [ -f "${ROOTFS_TAR}" ] || run_step base-debootstrap debootstrap_rootfs
  run_step base-import import_image
}

main "$@"
