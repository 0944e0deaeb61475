# services.clawos-controlplane — daemon: clawos-controlplane (docs/controlplane.md)
{ config, lib, pkgs, utils, ... }:

let
  cfg = config.services.clawos-controlplane;
  clib = import ./lib.nix { inherit lib utils; };
  monitorOn = config.services.clawos-monitor.enable;
  inherit (lib) mkOption types;
in
{
  options.services.clawos-controlplane = builtins.removeAttrs (clib.commonOptions {
    name = "controlplane";
    package = pkgs.callPackage ../packages/clawos.nix { };
    listenAddr = "127.0.0.1:8080";
    metricsListen = "";
    stateDir = "/var/lib/clawos/controlplane";
  }) [ "metricsListen" ] // {
    issuer = mkOption {
      type = types.str;
      default = config.services.clawos-identity.issuer;
      defaultText = lib.literalExpression "config.services.clawos-identity.issuer";
      description = "The iss operator tokens must carry (--issuer).";
    };
    maxBody = mkOption {
      type = types.ints.between 1024 67108864;
      default = 1048576;
      description = "Largest request body in bytes (--max-body).";
    };
    sseKeepalive = mkOption {
      type = types.str;
      default = "15s";
      description = "Comment sent on idle SSE streams this often (--sse-keepalive).";
    };
    streamRecheck = mkOption {
      type = types.str;
      default = "5s";
      description = "Open streams re-check the caller's token this often, busy or idle (--stream-recheck).";
    };
    maxStreams = mkOption {
      type = types.ints.between 1 511;
      default = 384;
      description = "Open streams (events, logs, exec) at most, below the listener's 512 connections (--max-streams).";
    };
    maxViewerStreams = mkOption {
      type = types.ints.positive;
      default = 128;
      description = "Of those, held by viewers at most; the rest is the admins' (--max-viewer-streams).";
    };
    maxStreamsPerViewer = mkOption {
      type = types.ints.positive;
      default = 16;
      description = "Open streams of one viewer subject at most (--max-streams-per-viewer).";
    };
    adminTokenTtl = mkOption {
      type = types.str;
      default = "24h";
      description = "Lifetime of the bootstrap admin token in the state directory (--admin-token-ttl).";
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services.clawos-controlplane = {
      description = "ClawOS control plane: the operators' REST API";
      wantedBy = [ "clawos.target" ];
      partOf = [ "clawos.target" ];
      after = [ "clawos-identity.service" "clawos-vm-launcher.service" "clawos-orchestrator.service" ];
      wants = [ "clawos-identity.service" ];
      serviceConfig = clib.unprivileged // {
        # The control plane serves /metrics on its own listener: without a
        # token on loopback, never through nginx (tls.nix).
        ExecStart = clib.execStart "${cfg.package}/bin/clawos-controlplane" {
          "--state-dir" = cfg.stateDir;
          "--listen" = cfg.listenAddr;
          "--log-level" = cfg.logLevel;
          "--identity" = clib.sockets.identity;
          "--launcher" = clib.sockets.launcher;
          "--proxy-admin" = clib.sockets.proxyAdmin;
          "--orchestrator" = clib.sockets.orchestrator;
          "--monitor" = if monitorOn then clib.sockets.monitor else "off";
          "--issuer" = cfg.issuer;
          "--max-body" = cfg.maxBody;
          "--sse-keepalive" = cfg.sseKeepalive;
          "--stream-recheck" = cfg.streamRecheck;
          "--max-streams" = cfg.maxStreams;
          "--max-viewer-streams" = cfg.maxViewerStreams;
          "--max-streams-per-viewer" = cfg.maxStreamsPerViewer;
          "--admin-token-ttl" = cfg.adminTokenTtl;
        } cfg.extraFlags;
        StateDirectory = clib.stateDirectory cfg.stateDir;
        StateDirectoryMode = "0700";
      };
    };
  };
}
