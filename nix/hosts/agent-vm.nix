# The agent VM's guest, and why it is not a NixOS configuration.
#
# The guest image is made by `clawos image build` (image/, docs/image.md): a
# Debian cloud kernel, a busybox initramfs whose /init opens the dm-verity
# root, and a read-only root holding busybox and the static `clawos-agent`.
# That builder stays the source of truth:
#  - The launcher boots only what the manifest signs, byte for byte: kernel,
#    initramfs, root and hash tree. The builder is reproducible (the
#    image_reproducible test builds twice and compares the bytes).
#  - The guest holds nothing but the agent, as PID 1, and no shell to log in
#    to. A NixOS guest would bring systemd, a store and a login shell.
#  - The builder fetches the kernel with `apt-get download`, so it runs on
#    Debian (where CI runs), not inside a Nix build sandbox.
#
# So on a Nix host, images are built with `clawos image build` (on the host by
# `clawos up`, or on a Debian builder) and signed with the host's key
# (clawos.verifiedBoot). This derivation takes such an image directory into
# the Nix store after checking its signature and every byte of its hash tree,
# so that a configuration can pin the exact image it runs:
#   pkgs.callPackage ./nix/hosts/agent-vm.nix { image = ./agent-image; publicKey = "<hex>"; }
{ runCommand, callPackage, image, publicKey, clawos ? callPackage ../packages/clawos.nix { } }:

runCommand "clawos-agent-image" { } ''
  ${clawos}/bin/clawos image verify --pubkey ${publicKey} --full ${image}
  cp -r ${image} $out
''
