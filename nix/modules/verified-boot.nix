# clawos.verifiedBoot — which key guest images must be signed with, and the
# host-side checks around it. The launcher always refuses unsigned images and
# roots that dm-verity does not seal; this module says which key is trusted
# and, with enableSigning, keeps a signing key on the host for
# `clawos image sign`.
{ config, lib, pkgs, ... }:

let
  cfg = config.clawos.verifiedBoot;
  inherit (lib) mkOption types;
in
{
  options.clawos.verifiedBoot = {
    enable = lib.mkEnableOption "ClawOS verified boot of agent images" // { default = true; };
    publicKey = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/etc/clawos/image-key/signing.pub";
      description = ''
        The Ed25519 public key images must be signed with: 64 hex characters, or
        the path of a file holding them (CLAWOS_SIGNING_PUBKEY of the launcher).
        `clawos image keygen` prints it.
      '';
    };
    enableSigning = mkOption {
      type = types.bool;
      default = false;
      description = ''
        Keep an image signing key on this host (/var/lib/clawos/image-key,
        0700, made once by `clawos image keygen`) so that images can be built
        and signed here. Off, images are signed elsewhere and only the public
        key is here.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [{
      assertion = !config.services.clawos-vm-launcher.enable || cfg.publicKey != null || cfg.enableSigning;
      message = "clawos.verifiedBoot: set publicKey, or enableSigning to make a key on this host.";
    }];
    # A default only: an explicit publicKey wins (and the condition must not
    # read publicKey itself, which would recurse).
    clawos.verifiedBoot.publicKey = lib.mkIf cfg.enableSigning
      (lib.mkDefault "/var/lib/clawos/image-key/signing.pub");
    systemd.services.clawos-image-key = lib.mkIf cfg.enableSigning {
      description = "ClawOS: the image signing key, made once";
      wantedBy = [ "clawos.target" ];
      before = [ "clawos-vm-launcher.service" ];
      unitConfig.ConditionPathExists = "!/var/lib/clawos/image-key/signing.key";
      serviceConfig = {
        Type = "oneshot";
        UMask = "0077";
        ExecStart = "${config.services.clawos-vm-launcher.package}/bin/clawos image keygen --out /var/lib/clawos/image-key";
      };
    };
  };
}
