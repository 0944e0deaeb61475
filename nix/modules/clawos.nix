# What every ClawOS host module shares: the user the unprivileged daemons run
# as (its group also admits the root daemons' sockets), clawos.target, and the
# CLI on PATH.
{ config, lib, pkgs, ... }:

let
  anyOn = lib.any (s: config.services.${s}.enable) [
    "clawos-identity" "clawos-inference-proxy" "clawos-monitor" "clawos-vm-launcher"
    "clawos-orchestrator" "clawos-controlplane"
  ];
in
{
  config = lib.mkIf anyOn {
    users.groups.clawos = { };
    users.users.clawos = {
      isSystemUser = true;
      group = "clawos";
      home = "/var/lib/clawos";
      description = "ClawOS daemons";
    };
    systemd.targets.clawos = {
      description = "ClawOS: every daemon of the host";
      wantedBy = [ "multi-user.target" ];
    };
    environment.systemPackages = [ config.services.clawos-vm-launcher.package ];
  };
}
