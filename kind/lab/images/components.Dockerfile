# The images a kind node preloads, made from binaries the lab built from the Go module proxy
# (context: the lab's bin directory plus kindnetd). Each stage is one image, tagged by
# kind/lab/node-image.sh with the exact name kubeadm or kind's manifests ask for.
ARG BASE_IMAGE=ha-tier-lab/debian:bookworm

# Debian userland for the components that call iptables, conntrack, ip or a shell.
FROM ${BASE_IMAGE} AS debian-net
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      iptables conntrack iproute2 ipset kmod busybox-static \
    && rm -rf /var/lib/apt/lists/*

# Control-plane binaries (kube-apiserver, kube-controller-manager, kube-scheduler): static, alone.
FROM scratch AS control-plane
ARG BIN
COPY ${BIN} /usr/local/bin/${BIN}
ENV PATH=/usr/local/bin

FROM debian-net AS kube-proxy
COPY kube-proxy /usr/local/bin/kube-proxy

FROM scratch AS etcd
COPY etcd etcdctl /usr/local/bin/
ENV PATH=/usr/local/bin

FROM scratch AS coredns
COPY coredns /coredns
ENTRYPOINT ["/coredns"]

FROM scratch AS pause
COPY pause /pause
USER 65535:65535
ENTRYPOINT ["/pause"]

FROM scratch AS local-path-provisioner
COPY local-path-provisioner /usr/local/bin/local-path-provisioner
ENV PATH=/usr/local/bin

# The helper pod runs `sh /script/setup` (mkdir) and teardown (rm): a static busybox is enough.
FROM scratch AS local-path-helper
COPY --from=debian-net /bin/busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
ENV PATH=/bin

# The network agent (kind/lab/kindnetd), built as kindnetd-<source hash> and named by --build-arg
# BIN. It stays the last stage: Docker's classic builder builds every stage before its target, and
# without BIN (any other target) this one would fail.
FROM debian-net AS kindnetd
ARG BIN
COPY ${BIN} /bin/kindnetd
CMD ["/bin/kindnetd"]
