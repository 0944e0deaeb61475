# services.clawos-monitor — daemon: clawos-monitor (docs/monitor.md)
{ config, lib, pkgs, utils, ... }:

let
  cfg = config.services.clawos-monitor;
  clib = import ./lib.nix { inherit lib utils; };
  inherit (lib) mkOption types;
in
{
  options.services.clawos-monitor = clib.commonOptions {
    name = "monitor";
    package = pkgs.callPackage ../packages/clawos.nix { };
    listenAddr = "127.0.0.1:2083";
    metricsListen = "127.0.0.1:9083";
    stateDir = "/var/lib/clawos/monitor";
  } // {
    policy = mkOption {
      type = types.nullOr types.path;
      default = null;
      description = "Policy file (--policy); the built-in policy when null.";
    };
    exitHooks = mkOption {
      type = types.enum [ "per-call" "generic" ];
      default = "per-call";
      description = "How detailed calls' exits are hooked (--exit-hooks).";
    };
    siem = {
      enable = lib.mkEnableOption "forwarding events to a SIEM as CEF over syslog";
      protocol = mkOption {
        type = types.enum [ "udp" "tcp" "tls" ];
        default = "tls";
        description = "Syslog transport (--siem <protocol>://host:port).";
      };
      host = mkOption {
        type = types.str;
        example = "siem.example.com";
        description = "The SIEM's syslog host.";
      };
      port = mkOption {
        type = types.port;
        default = 6514;
        description = "The SIEM's syslog port (6514 for TLS, 514 for UDP/TCP).";
      };
      caFile = mkOption {
        type = types.nullOr types.path;
        default = null;
        description = "CA that signed the SIEM's certificate (--siem-ca); the system store when null.";
      };
      certFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Client certificate for TLS (--siem-cert).";
      };
      keyFile = mkOption {
        type = types.nullOr types.str;
        default = null;
        description = "Client key for TLS (--siem-key); a path outside the Nix store.";
      };
      queue = mkOption {
        type = types.ints.between 1 10000000;
        default = 10000;
        description = "Events held while the SIEM is away (--siem-queue).";
      };
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services.clawos-monitor = {
      description = "ClawOS eBPF syscall monitor (JSONL, CEF over syslog)";
      wantedBy = [ "clawos.target" ];
      partOf = [ "clawos.target" ];
      after = [ "network.target" ];
      # Root with a bounded capability set (docs/deploy.md): CAP_BPF and
      # CAP_PERFMON load and attach the tracing programs; CAP_SYS_RESOURCE for
      # BPF map memory on kernels that still charge RLIMIT_MEMLOCK.
      serviceConfig = clib.commonHardening // {
        User = "root";
        Group = "clawos";
        ExecStart = clib.execStart "${cfg.package}/bin/clawos-monitor" ({
          "--state-dir" = cfg.stateDir;
          "--listen" = [ cfg.listenAddr clib.sockets.monitor ];
          "--socket-mode" = "0660";
          "--metrics-listen" = cfg.metricsListen;
          "--log-level" = cfg.logLevel;
          "--policy" = cfg.policy;
          "--exit-hooks" = cfg.exitHooks;
        } // lib.optionalAttrs cfg.siem.enable {
          "--siem" = "${cfg.siem.protocol}://${cfg.siem.host}:${toString cfg.siem.port}";
          "--siem-ca" = cfg.siem.caFile;
          "--siem-cert" = cfg.siem.certFile;
          "--siem-key" = cfg.siem.keyFile;
          "--siem-queue" = cfg.siem.queue;
        }) cfg.extraFlags;
        CapabilityBoundingSet = [ "CAP_BPF" "CAP_PERFMON" "CAP_SYS_RESOURCE" ];
        AmbientCapabilities = [ "CAP_BPF" "CAP_PERFMON" "CAP_SYS_RESOURCE" ];
        PrivateDevices = true;
        ProtectKernelTunables = true;
        ProtectControlGroups = true;
        RestrictNamespaces = true;
        RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
        MemoryDenyWriteExecute = true;
        SystemCallFilter = [
          "@system-service bpf perf_event_open"
          "~@mount @swap @reboot @raw-io @module @obsolete @cpu-emulation @debug"
          # @debug holds perf_event_open, which the per-call exit hooks need.
          "perf_event_open"
        ];
        StateDirectory = clib.stateDirectory cfg.stateDir;
        StateDirectoryMode = "0700";
        RuntimeDirectory = "clawos/monitor";
        RuntimeDirectoryMode = "0750";
      };
    };
  };
}
