#!/usr/bin/env bash
# Makes the node image's Debian root filesystem with debootstrap and writes
# it as a tarball for `docker import` (no registry is needed).
#   hack/node-rootfs.sh OUT.tar
# The cache key of the result is this file's content (with MIRROR): change
# the suite or the package list here and the base is made again.
# MIRROR overrides debootstrap's default Debian mirror.
set -euo pipefail
out=${1:?usage: node-rootfs.sh OUT.tar}
cd "$(dirname "$0")/.."

SUITE=bookworm
PACKAGES=(
  # networking: the CNI plugins, kube-proxy and debugging
  iptables nftables iproute2 conntrack ethtool socat ebtables
  # runtime: runc is linked against libseccomp
  libseccomp2 ca-certificates
  # what kind's node protocol and debugging expect
  procps util-linux mount kmod curl less
)

hack/install-image-deps.sh debootstrap

root=$(mktemp -d "${TMPDIR:-/tmp}/kubelab-rootfs.XXXXXX")
trap 'rm -rf "$root"' EXIT
include=$(IFS=,; echo "${PACKAGES[*]}")
debootstrap --variant=minbase --include="$include" "$SUITE" "$root" ${MIRROR:+"$MIRROR"} >"$root.log" 2>&1 || {
  tail -n 30 "$root.log" >&2
  rm -f "$root.log"
  exit 1
}
rm -f "$root.log"

# Trim what a node never reads: apt lists and caches, docs, man pages, locales.
chroot "$root" apt-get clean
rm -rf "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/* "$root"/var/cache/debconf/*-old \
  "$root"/usr/share/doc/* "$root"/usr/share/man/* "$root"/usr/share/info/* "$root"/usr/share/locale/* \
  "$root"/var/log/* "$root"/tmp/* "$root"/dev/* "$root"/proc/* "$root"/sys/*
# The node container gets its own hostname, hosts and resolv.conf from Docker.
: >"$root/etc/hostname"

mkdir -p "$(dirname "$out")"
tar -C "$root" --numeric-owner --xattrs -cf "$out.tmp" .
mv "$out.tmp" "$out"
du -sh "$out" >&2
