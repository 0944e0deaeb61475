# services.clawos-orchestrator — daemon: clawos-orchestrator (docs/orchestrator.md)
{ config, lib, pkgs, utils, ... }:

let
  cfg = config.services.clawos-orchestrator;
  clib = import ./lib.nix { inherit lib utils; };
  inherit (lib) mkOption types;
in
{
  options.services.clawos-orchestrator = clib.commonOptions {
    name = "orchestrator";
    package = pkgs.callPackage ../packages/clawos.nix { };
    listenAddr = "127.0.0.1:2081";
    metricsListen = "127.0.0.1:9081";
    stateDir = "/var/lib/clawos/orchestrator";
  } // {
    maxUnfinished = mkOption {
      type = types.ints.between 1 10000;
      default = 64;
      description = "Unfinished workflows at once (--max-unfinished); more are refused.";
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services.clawos-orchestrator = {
      description = "ClawOS orchestrator: multi-agent workflows in VMs";
      wantedBy = [ "clawos.target" ];
      partOf = [ "clawos.target" ];
      after = [ "clawos-vm-launcher.service" "clawos-inference-proxy.service" ];
      wants = [ "clawos-vm-launcher.service" ];
      serviceConfig = clib.unprivileged // {
        ExecStart = clib.execStart "${cfg.package}/bin/clawos-orchestrator" {
          "--state-dir" = cfg.stateDir;
          "--listen" = [ cfg.listenAddr clib.sockets.orchestrator ];
          "--socket-mode" = "0660";
          "--metrics-listen" = cfg.metricsListen;
          "--log-level" = cfg.logLevel;
          "--launcher" = clib.sockets.launcher;
          "--proxy-admin" = clib.sockets.proxyAdmin;
          "--max-unfinished" = cfg.maxUnfinished;
        } cfg.extraFlags;
        StateDirectory = clib.stateDirectory cfg.stateDir;
        StateDirectoryMode = "0700";
        RuntimeDirectory = "clawos/orchestrator";
        RuntimeDirectoryMode = "0750";
      };
    };
  };
}
