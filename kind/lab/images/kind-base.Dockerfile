# The lab's kind base image: what kind's images/base/Dockerfile builds, with containerd, runc and the
# CNI plugins taken from Debian bookworm's packages instead of being cloned and compiled from GitHub.
# The build context (made by kind/lab/node-image.sh) holds kind's own files/ from the kind Go module
# (entrypoint, containerd config, systemd units) and the lab-built crictl.
ARG BASE_IMAGE=ha-tier-lab/debian:bookworm
FROM ${BASE_IMAGE}

# Packages kind's base installs, plus Debian's containerd, runc and CNI plugins; then the same
# systemd trimming kind does for running systemd as a container's PID 1.
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      systemd conntrack iptables nftables iproute2 ethtool util-linux mount kmod \
      libseccomp2 pigz fuse-overlayfs bash ca-certificates curl jq procps \
      containerd runc containernetworking-plugins \
    && rm -rf /var/lib/apt/lists/* \
    && find /lib/systemd/system/sysinit.target.wants/ -name "systemd-tmpfiles-setup.service" -delete \
    && rm -f /lib/systemd/system/multi-user.target.wants/* \
    && rm -f /etc/systemd/system/*.wants/* \
    && rm -f /lib/systemd/system/local-fs.target.wants/* \
    && rm -f /lib/systemd/system/sockets.target.wants/*udev* \
    && rm -f /lib/systemd/system/sockets.target.wants/*initctl* \
    && rm -f /lib/systemd/system/basic.target.wants/* \
    && echo "ReadKMsg=no" >> /etc/systemd/journald.conf \
    && ln -sf "$(command -v systemd)" /sbin/init

# kind's files come after the packages, so that they win over Debian's containerd config.
COPY files/usr/local/bin/ /usr/local/bin/
COPY files/kind/ /kind/
COPY files/etc/ /etc/
COPY crictl /usr/local/bin/crictl

# kind's units and scripts expect these paths.
RUN chmod 0755 /usr/local/bin/* /kind/bin /kind/bin/* \
    && find /etc/containerd /etc/default /etc/sysctl.d /etc/systemd/system /kind -type f ! -path '/kind/bin/*' -exec chmod 0644 {} + \
    && ln -sf /usr/bin/containerd /usr/local/bin/containerd \
    && ln -sf /usr/bin/ctr /usr/local/bin/ctr \
    && ln -sf /usr/bin/containerd-shim-runc-v2 /usr/local/bin/containerd-shim-runc-v2 \
    && ln -sf /usr/sbin/runc /usr/local/sbin/runc \
    && mkdir -p /opt/cni/bin \
    && for p in host-local loopback ptp portmap bridge; do ln -sf "/usr/lib/cni/${p}" "/opt/cni/bin/${p}"; done \
    && ctr oci spec \
      | jq '.hooks.createContainer[.hooks.createContainer| length] |= . + {"path": "/kind/bin/mount-product-files.sh"}' \
      | jq 'del(.process.rlimits)' > /etc/containerd/cri-base.json \
    && containerd --version && runc --version

# Where the host cannot grant CAP_SYS_RESOURCE (see kind/lab/docker.sh), nested runc cannot lower
# oom_score_adj below containerd's own; kubelet asks -998 for sandboxes, so containerd must clamp it.
ARG RESTRICT_OOM_SCORE_ADJ=false
RUN sed -i "s/^\(\s*restrict_oom_score_adj\s*=\s*\).*/\1${RESTRICT_OOM_SCORE_ADJ}/" /etc/containerd/config.toml \
    && grep -q "restrict_oom_score_adj = ${RESTRICT_OOM_SCORE_ADJ}" /etc/containerd/config.toml

RUN systemctl enable kubelet.service \
    && systemctl enable containerd.service \
    && systemctl enable undo-mount-hacks.service \
    && systemctl mask systemd-binfmt.service \
    && mkdir -p /etc/kubernetes/manifests

ENV container=docker
STOPSIGNAL SIGRTMIN+3
ENTRYPOINT [ "/usr/local/bin/entrypoint", "/sbin/init" ]
