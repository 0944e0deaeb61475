# Every ClawOS binary from this checkout: the daemons, the CLI, the static
# guest agent and the image tooling (`clawos image ...`). The same
# dependencies as scripts/install-deps.sh installs on Debian 12.
{ lib
, stdenv
, cmake
, ninja
, pkg-config
, protobuf
, grpc
, abseil-cpp
, openssl
, sqlite
, libbpf
, bpftools
, llvmPackages
, spdlog
, fmt
, nlohmann_json
, cli11
, prometheus-cpp
, tomlplusplus
, yaml-cpp
, gtest
, boost
, glibc
, pkgsStatic
, linuxPackages
, linuxHeaders
, python3Packages
}:

stdenv.mkDerivation {
  pname = "clawos";
  version = "0.1.0";
  src = lib.cleanSource ../..;

  # Unwrapped clang compiles only the BPF program (clang -target bpf); the C++
  # is built by stdenv's compiler, with its hardening flags.
  nativeBuildInputs = [ cmake ninja pkg-config protobuf grpc bpftools llvmPackages.clang-unwrapped llvmPackages.llvm ];
  buildInputs = [
    protobuf grpc abseil-cpp openssl sqlite libbpf spdlog fmt nlohmann_json cli11
    prometheus-cpp tomlplusplus yaml-cpp gtest boost
    # clawos-agent is linked statically (libprotobuf.a, libcrypto.a, libc.a).
    glibc.static
  ];

  cmakeFlags = [
    "-DCMAKE_BUILD_TYPE=RelWithDebInfo"
    # The static guest agent links static protobuf and libcrypto.
    "-DCLAWOS_AGENT_PROTOBUF_STATIC=${pkgsStatic.protobuf}/lib/libprotobuf.a"
    "-DCLAWOS_AGENT_CRYPTO_STATIC=${pkgsStatic.openssl.out}/lib/libcrypto.a"
    # The monitor's vmlinux.h comes from a kernel's BTF (CO-RE: any recent
    # kernel's will do); the build sandbox has no /sys/kernel/btf.
    "-DCLAWOS_KERNEL_BTF=${linuxPackages.kernel.dev}/vmlinux"
    "-DCLAWOS_UNISTD=${linuxHeaders}/include/asm/unistd_64.h"
    # google/api/{http,annotations}.proto: the googleapis-common-protos
    # package ships them beside its Python modules.
    "-DGOOGLEAPIS_PROTO_DIR=${python3Packages.googleapis-common-protos}/${python3Packages.python.sitePackages}"
  ];

  # The tests boot VMs and load BPF programs: they run in CI (scripts/test.sh),
  # not in the sandbox.
  doCheck = false;

  installPhase = ''
    runHook preInstall
    mkdir -p $out/bin $out/share/clawos
    for b in bin/clawos bin/clawos-*; do install -m 0755 "$b" $out/bin/; done
    cp -r ${../../deploy} $out/share/clawos/deploy
    runHook postInstall
  '';

  meta = {
    description = "ClawOS: autonomous AI agents, one per verified microVM";
    # No license has been chosen for this repository yet.
    platforms = [ "x86_64-linux" ];
    mainProgram = "clawos";
  };
}
