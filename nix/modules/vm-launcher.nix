# services.clawos-vm-launcher — daemon: clawos-vm-launcher (docs/vm-launcher.md)
{ config, lib, pkgs, utils, ... }:

let
  cfg = config.services.clawos-vm-launcher;
  boot = config.clawos.verifiedBoot;
  proxy = config.services.clawos-inference-proxy;
  clib = import ./lib.nix { inherit lib utils; };
  inherit (lib) mkOption types;
in
{
  options.services.clawos-vm-launcher = clib.commonOptions {
    name = "vm-launcher";
    package = pkgs.callPackage ../packages/clawos.nix { };
    listenAddr = "127.0.0.1:2080";
    metricsListen = "127.0.0.1:9080";
    stateDir = "/var/lib/clawos/launcher";
  } // {
    accel = mkOption {
      type = types.enum [ "auto" "kvm" "tcg" ];
      default = "auto";
      description = "QEMU accelerator (--accel): KVM when the host has it.";
    };
    maxVms = mkOption {
      type = types.ints.between 1 4096;
      default = 16;
      description = "VMs at once (--max-vms).";
    };
    minAvailableMiB = mkOption {
      type = types.ints.unsigned;
      default = 256;
      description = "Host memory a start must leave available (--min-available-mib).";
    };
    bridge = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "clawbr0";
      description = "Bridge for BRIDGE-networked VMs (--bridge); none when null.";
    };
    bridgeSubnet = mkOption {
      type = types.str;
      default = "10.88.0";
      description = "The bridge's /24 (--bridge-subnet).";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [{
      assertion = boot.publicKey != null;
      message = "services.clawos-vm-launcher needs clawos.verifiedBoot.publicKey: the launcher boots only images signed by it.";
    }];
    systemd.services.clawos-vm-launcher = {
      description = "ClawOS VM launcher: signed, dm-verity images in QEMU microVMs";
      wantedBy = [ "clawos.target" ];
      partOf = [ "clawos.target" ];
      after = [ "clawos-identity.service" "clawos-monitor.service" "clawos-inference-proxy.service" ];
      wants = [ "clawos-identity.service" ];
      # sh for the bridge set-up's tool checks.
      path = [ pkgs.bash pkgs.qemu_kvm pkgs.iproute2 pkgs.nftables pkgs.e2fsprogs ];
      environment.CLAWOS_SIGNING_PUBKEY = boot.publicKey;
      # Root with a bounded capability set (docs/deploy.md): VM cgroups
      # (/sys/fs/cgroup/clawos), tap devices and nftables rules (CAP_NET_ADMIN),
      # /dev/kvm and /dev/net/tun. QEMU runs each VM in the VM's own cgroup,
      # so VMs outlive a launcher restart.
      serviceConfig = clib.commonHardening // {
        User = "root";
        Group = "clawos";
        ExecStart = clib.execStart "${cfg.package}/bin/clawos-vm-launcher" {
          "--state-dir" = cfg.stateDir;
          "--listen" = [ cfg.listenAddr clib.sockets.launcher ];
          "--socket-mode" = "0660";
          "--metrics-listen" = cfg.metricsListen;
          "--log-level" = cfg.logLevel;
          "--identity" = clib.sockets.identity;
          "--monitor" = if config.services.clawos-monitor.enable then clib.sockets.monitor else null;
          "--inference-proxy-url" = if proxy.enable then "http://${proxy.listenAddr}" else null;
          "--cgroup-parent" = "clawos";
          "--jail" = "on";  # never off in a deployment (debugging only)
          "--accel" = cfg.accel;
          "--max-vms" = cfg.maxVms;
          "--min-available-mib" = cfg.minAvailableMiB;
          "--bridge" = cfg.bridge;
          "--bridge-subnet" = if cfg.bridge != null then cfg.bridgeSubnet else null;
        } cfg.extraFlags;
        # CAP_NET_ADMIN: taps, the bridge, nftables. The rest jails each VMM
        # (clawos-jailer): namespaces and mounts, its own uid, an empty
        # bounding set, its disks and device nodes, signals to it.
        CapabilityBoundingSet = [
          "CAP_NET_ADMIN" "CAP_SYS_ADMIN" "CAP_SETUID" "CAP_SETGID" "CAP_SETPCAP"
          "CAP_CHOWN" "CAP_DAC_OVERRIDE" "CAP_KILL" "CAP_MKNOD"
        ];
        DeviceAllow = [ "/dev/kvm rw" "/dev/net/tun rw" ];
        DevicePolicy = "closed";
        ProtectKernelTunables = true;
        # ProtectControlGroups stays off: the launcher enables controllers at
        # the cgroup root and makes one cgroup per VM under /sys/fs/cgroup/clawos.
        # The jail's namespaces; never user namespaces.
        RestrictNamespaces = [ "mnt" "pid" "ipc" "uts" "net" "cgroup" ];
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" "AF_NETLINK" ];
        SystemCallFilter = [
          "@system-service @mount sethostname seccomp landlock_create_ruleset landlock_add_rule landlock_restrict_self"
          "~@swap @reboot @raw-io @module @obsolete @cpu-emulation @debug"
        ];
        StateDirectory = clib.stateDirectory cfg.stateDir;
        StateDirectoryMode = "0700";
        RuntimeDirectory = "clawos/launcher";
        RuntimeDirectoryMode = "0750";
      };
    };
  };
}
