#!/usr/bin/env bash
# Installs every Debian 12 package that building and testing ClawOS needs.
# Idempotent: packages already present are left alone. Run as root (or via sudo).
set -euo pipefail

PACKAGES=(
  # toolchain
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang clang-format libclang-rt-14-dev
  # libraries
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  golang-github-gogo-googleapis-dev  # google/api/{http,annotations}.proto (issue 19)
  libabsl-dev libssl-dev libsqlite3-dev sqlite3
  libspdlog-dev libfmt-dev nlohmann-json3-dev libcli11-dev
  prometheus-cpp-dev libtomlplusplus-dev
  # guest images (issue 3): the kernel is fetched with apt-get download
  qemu-system-x86 cryptsetup-bin busybox-static dmsetup e2fsprogs squashfs-tools
  erofs-utils lz4 kmod
  # the eBPF monitor (issue 6): libbpf, skeletons and vmlinux.h, llvm-strip
  libbpf-dev bpftool llvm
  # the orchestrator's workflow specs (issue 8)
  libyaml-cpp-dev
  # tests and benchmarks
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  python3 curl openssl nftables iproute2 libboost-dev
  rsyslog rsyslog-openssl liblognorm-utils
  # the control plane's TLS front (issue 7)
  nginx
  # deployment checks (issue 9): systemd-analyze, nix-instantiate --parse
  systemd nix-bin
)

missing=()
for p in "${PACKAGES[@]}"; do
  if [[ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" != *"install ok installed"* ]]; then
    missing+=("$p")
  fi
done

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

# `clawos image build` fetches the guest kernel with apt-get download, which
# needs package lists even when nothing is missing.
if ! ls /var/lib/apt/lists/*_Packages >/dev/null 2>&1; then
  $SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
fi

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "install-deps: installing ${missing[*]}"
$SUDO apt-get -o DPkg::Lock::Timeout=600 update -q
$SUDO apt-get -o DPkg::Lock::Timeout=600 install -y -q --no-install-recommends "${missing[@]}"
