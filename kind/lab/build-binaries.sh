#!/usr/bin/env bash
# Builds, from the Go module proxy, every binary the offline kind lab needs, and caches each one by
# version under $LAB_CACHE/bin (a second run builds nothing):
#   kind; kubeadm, kubelet, kubectl, kube-apiserver, kube-controller-manager, kube-scheduler,
#   kube-proxy (Kubernetes $K8S_VERSION); etcd + etcdctl; coredns; local-path-provisioner;
#   crictl; pause (a small static C program).
#
# Usage: kind/lab/build-binaries.sh            (settings: see kind/lab/lib.sh)
set -o errexit -o nounset -o pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=kind/lab/lib.sh
source "${REPO_ROOT}/kind/lab/lib.sh"

export CGO_ENABLED=0
export GOFLAGS="-buildvcs=false -trimpath"
# Older modules reach into the runtime with go:linkname; Go >= 1.23 refuses that unless told.
GO_LINK_COMPAT="-checklinkname=0"

K8S_COMMANDS=(kubeadm kubelet kubectl kube-apiserver kube-controller-manager kube-scheduler kube-proxy)

have() { [ -x "${LAB_BIN}/$1" ]; }

# A throwaway module that requires k8s.io/kubernetes and points each staging module (which
# kubernetes replaces with ./staging/... paths, so `go install` refuses it) at its published release.
build_kubernetes() {
  local minor="${K8S_VERSION#v1.}"; minor="${minor%%.*}"
  local staging_version="v0.${K8S_VERSION#v1.}"
  local work="${LAB_CACHE}/src/kubernetes-${K8S_VERSION}"
  rm -rf "${work}"; mkdir -p "${work}"
  cd "${work}"
  go mod init lab.local/kubernetes-build >/dev/null 2>&1
  local gomod
  gomod=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^\s*"GoMod": "\(.*\)",$/\1/p')
  [ -f "${gomod}" ] || die "could not download k8s.io/kubernetes@${K8S_VERSION}"
  {
    echo "require k8s.io/kubernetes ${K8S_VERSION}"
    echo "replace ("
    sed -n 's#^\s*\(k8s.io/[a-z0-9-]*\) => ./staging/.*#\t\1 => \1 '"${staging_version}"'#p' "${gomod}"
    echo ")"
  } >>go.mod
  cat go.mod
  local commit
  commit=$(go mod download -json "k8s.io/kubernetes@${K8S_VERSION}" | sed -n 's/^\s*"Hash": "\(.*\)",$/\1/p' | head -n1)
  local ldflags="-s -w ${GO_LINK_COMPAT}"
  local pkg
  for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X ${pkg}.gitVersion=${K8S_VERSION} -X ${pkg}.gitMajor=1 -X ${pkg}.gitMinor=${minor}"
    ldflags+=" -X ${pkg}.gitTreeState=clean -X ${pkg}.buildDate=1970-01-01T00:00:00Z"
    ldflags+=" -X ${pkg}.gitCommit=${commit:-unknown}"
  done
  # One `go build` for every command: the package graph is loaded once and the commands' shared
  # packages are compiled once, in parallel (seven separate builds took minutes longer cold).
  local cmd pkgs=() out="${work}/out"
  for cmd in "${K8S_COMMANDS[@]}"; do
    have "${cmd}" || pkgs+=("k8s.io/kubernetes/cmd/${cmd}")
  done
  echo "building ${pkgs[*]##*/} ${K8S_VERSION}"
  mkdir -p "${out}"
  go build -mod=mod -ldflags "${ldflags}" -o "${out}/" "${pkgs[@]}"
  for cmd in "${K8S_COMMANDS[@]}"; do
    [ -f "${out}/${cmd}" ] && mv "${out}/${cmd}" "${LAB_BIN}/${cmd}"
  done
  "${LAB_BIN}/kubeadm" version -o short
}

build_etcd() {
  local work="${LAB_CACHE}/src/etcd-${ETCD_VERSION}"
  rm -rf "${work}"; mkdir -p "${work}"; cd "${work}"
  go mod init lab.local/etcd-build >/dev/null 2>&1
  # etcd's server module also points its sibling modules at local paths: pin them to the release.
  cat >>go.mod <<EOF
require go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
require go.etcd.io/etcd/etcdctl/v3 ${ETCD_VERSION}
replace (
	go.etcd.io/etcd/api/v3 => go.etcd.io/etcd/api/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/client/pkg/v3 => go.etcd.io/etcd/client/pkg/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/client/v2 => go.etcd.io/etcd/client/v2 v2.305.${ETCD_VERSION#v3.5.}
	go.etcd.io/etcd/client/v3 => go.etcd.io/etcd/client/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/pkg/v3 => go.etcd.io/etcd/pkg/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/raft/v3 => go.etcd.io/etcd/raft/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/server/v3 => go.etcd.io/etcd/server/v3 ${ETCD_VERSION}
	go.etcd.io/etcd/etcdctl/v3 => go.etcd.io/etcd/etcdctl/v3 ${ETCD_VERSION}
)
EOF
  go build -mod=mod -ldflags "-s -w ${GO_LINK_COMPAT}" -o "${LAB_BIN}/etcd.tmp" go.etcd.io/etcd/server/v3
  go build -mod=mod -ldflags "-s -w ${GO_LINK_COMPAT}" -o "${LAB_BIN}/etcdctl.tmp" go.etcd.io/etcd/etcdctl/v3
  mv "${LAB_BIN}/etcd.tmp" "${LAB_BIN}/etcd"; mv "${LAB_BIN}/etcdctl.tmp" "${LAB_BIN}/etcdctl"
  "${LAB_BIN}/etcd" --version
}

# go_install NAME MODULE@VERSION [LDFLAGS]: `go install` into a private GOBIN, then cache as NAME.
go_install() {
  local name="$1" target="$2" extra="${3:-}"
  local gobin="${LAB_CACHE}/src/gobin-${name}"
  rm -rf "${gobin}"; mkdir -p "${gobin}"
  GOBIN="${gobin}" go install -ldflags "-s -w ${GO_LINK_COMPAT} ${extra}" "${target}"
  mv "${gobin}/$(basename "${target%@*}")" "${LAB_BIN}/${name}"
}

build_pause() {
  local src="${LAB_CACHE}/src/pause.c"
  # Same job as Kubernetes' build/pause: sleep until a signal, reap orphaned children.
  cat >"${src}" <<'EOF'
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void on_term(int sig) { (void)sig; _exit(0); }
static void on_child(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) { printf("pause (ha-tier lab)\n"); return 0; }
  if (getpid() != 1) fprintf(stderr, "warning: pause should be the first process\n");
  struct sigaction term = {.sa_handler = on_term}, child = {.sa_handler = on_child, .sa_flags = SA_NOCLDSTOP};
  sigaction(SIGINT, &term, NULL);
  sigaction(SIGTERM, &term, NULL);
  sigaction(SIGCHLD, &child, NULL);
  for (;;) pause();
  return 1;
}
EOF
  gcc -Os -static -o "${LAB_BIN}/pause" "${src}"
  strip "${LAB_BIN}/pause"
}

main() {
  command -v go >/dev/null || die "Go is required to build the lab (https://go.dev/dl/)."
  local missing=0 cmd
  for cmd in "${K8S_COMMANDS[@]}"; do have "${cmd}" || missing=1; done
  [ "${missing}" = 0 ] || run_step bin-kubernetes build_kubernetes
  have kind || run_step bin-kind go_install kind "sigs.k8s.io/kind@${KIND_VERSION}"
  have crictl || run_step bin-crictl go_install crictl "sigs.k8s.io/cri-tools/cmd/crictl@${CRICTL_VERSION}"
  have pause || run_step bin-pause build_pause
  have local-path-provisioner || run_step bin-local-path go_install local-path-provisioner \
    "github.com/rancher/local-path-provisioner@${LOCAL_PATH_VERSION}"
  have coredns || run_step bin-coredns go_install coredns "github.com/coredns/coredns@${COREDNS_VERSION}"
  { have etcd && have etcdctl; } || run_step bin-etcd build_etcd
  log "binaries ready in ${LAB_BIN}"
}

main "$@"
