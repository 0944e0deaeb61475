# services.clawos-identity — daemon: clawos-identity (docs/identity.md)
{ config, lib, pkgs, utils, ... }:

let
  cfg = config.services.clawos-identity;
  clib = import ./lib.nix { inherit lib utils; };
  inherit (lib) mkOption types;
in
{
  options.services.clawos-identity = clib.commonOptions {
    name = "identity";
    package = pkgs.callPackage ../packages/clawos.nix { };
    listenAddr = "127.0.0.1:2082";
    metricsListen = "127.0.0.1:9082";
    stateDir = "/var/lib/clawos/identity";
  } // {
    issuer = mkOption {
      type = types.str;
      default = "clawos-identity";
      description = "The iss claim of issued tokens (--issuer).";
    };
    defaultTtl = mkOption {
      type = types.str;
      default = "10m";
      description = "Token lifetime when none is asked for (--default-ttl).";
    };
    maxTtl = mkOption {
      type = types.str;
      default = "24h";
      description = "Longest token lifetime that may be issued (--max-ttl).";
    };
    keyRotationInterval = mkOption {
      type = types.str;
      default = "30d";
      description = "Age at which the signing key is rotated (--key-rotation-interval); \"0\" disables.";
    };
    masterKeyFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      description = ''
        The master key file (--master-key-path; 64 hex, 0600). Default: master.key
        in the state directory, created on first start. Never in the Nix store.
      '';
    };
    oidcConfig = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "JSON file of trusted OIDC issuers for token exchange (--oidc-config).";
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services.clawos-identity = {
      description = "ClawOS identity: agent JWTs, JWKS, sealed secrets";
      wantedBy = [ "clawos.target" ];
      partOf = [ "clawos.target" ];
      after = [ "network.target" ];
      serviceConfig = clib.unprivileged // {
        ExecStart = clib.execStart "${cfg.package}/bin/clawos-identity" {
          "--state-dir" = cfg.stateDir;
          "--listen" = [ cfg.listenAddr clib.sockets.identity ];
          "--socket-mode" = "0660";
          "--metrics-listen" = cfg.metricsListen;
          "--log-level" = cfg.logLevel;
          "--issuer" = cfg.issuer;
          "--default-ttl" = cfg.defaultTtl;
          "--max-ttl" = cfg.maxTtl;
          "--key-rotation-interval" = cfg.keyRotationInterval;
          "--master-key-path" = cfg.masterKeyFile;
          "--oidc-config" = cfg.oidcConfig;
        } cfg.extraFlags;
        StateDirectory = clib.stateDirectory cfg.stateDir;
        StateDirectoryMode = "0700";
        RuntimeDirectory = "clawos/identity";
        RuntimeDirectoryMode = "0750";
      };
    };
  };
}
