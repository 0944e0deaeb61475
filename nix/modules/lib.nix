# Shared by the ClawOS service modules: the systemd hardening every unit gets
# (the same as deploy/systemd/*.service; test/deploy_check.sh compares them),
# the socket paths, and how an ExecStart line is built.
{ lib, utils }:

rec {
  # Where each daemon's trusted unix socket lives: /run/clawos/<name>/<file>,
  # a 0750 directory of user or group clawos, the socket 0660.
  socket = name: file: "unix:/run/clawos/${name}/${file}";
  sockets = {
    identity = socket "identity" "identity.sock";
    launcher = socket "launcher" "launcher.sock";
    orchestrator = socket "orchestrator" "orchestrator.sock";
    proxyAdmin = socket "proxy" "admin.sock";
    monitor = socket "monitor" "monitor.sock";
  };

  # Every unit: the same lines as the common block of deploy/systemd/*.service.
  commonHardening = {
    NoNewPrivileges = true;
    ProtectSystem = "strict";
    ProtectHome = true;
    PrivateTmp = true;
    ProtectKernelModules = true;
    ProtectKernelLogs = true;
    ProtectClock = true;
    ProtectHostname = true;
    RestrictRealtime = true;
    RestrictSUIDSGID = true;
    LockPersonality = true;
    RemoveIPC = true;
    KeyringMode = "private";
    SystemCallArchitectures = "native";
    SystemCallErrorNumber = "EPERM";
    UMask = "0077";
    TasksMax = 1024;
    Restart = "on-failure";
    RestartSec = "2s";
    TimeoutStopSec = "30s";
  };

  # The unprivileged daemons (identity, proxy, orchestrator, control plane):
  # user clawos, no capabilities, no devices.
  unprivileged = commonHardening // {
    User = "clawos";
    Group = "clawos";
    CapabilityBoundingSet = "";
    AmbientCapabilities = "";
    PrivateDevices = true;
    PrivateUsers = true;
    ProtectKernelTunables = true;
    ProtectControlGroups = true;
    ProtectProc = "invisible";
    ProcSubset = "pid";
    RestrictNamespaces = true;
    RestrictAddressFamilies = [ "AF_UNIX" "AF_INET" "AF_INET6" ];
    MemoryDenyWriteExecute = true;
    SystemCallFilter = [ "@system-service" "~@privileged @resources" ];
  };

  # A flag's value as text; a path is interpolated, so that the file goes into
  # the store with the system (toString would drop that reference).
  text = v: if builtins.isPath v then "${v}" else toString v;

  # "--flag value" pairs from an attrset, skipping nulls; lists repeat the flag.
  flags = attrs:
    lib.concatLists (lib.mapAttrsToList
      (flag: value:
        if value == null then [ ]
        else if lib.isList value then lib.concatMap (v: [ flag (text v) ]) value
        else if lib.isBool value then (if value then [ flag ] else [ ])
        else [ flag (text value) ])
      attrs);

  # StateDirectory= for a stateDir under /var/lib.
  stateDirectory = dir: lib.removePrefix "/var/lib/" dir;

  # ExecStart= quoted for systemd (which expands % and $), not for a shell.
  execStart = program: attrs: extra:
    utils.escapeSystemdExecArgs ([ program ] ++ flags attrs ++ extra);

  # Options every daemon module has.
  commonOptions = { name, package, listenAddr, metricsListen, stateDir }: {
    enable = lib.mkEnableOption "clawos-${name}";
    package = lib.mkOption {
      type = lib.types.package;
      default = package;
      defaultText = lib.literalExpression "pkgs.clawos";
      description = "The package that provides clawos-${name}.";
    };
    listenAddr = lib.mkOption {
      type = lib.types.str;
      default = listenAddr;
      description = "TCP host:port of its API (--listen); the unix socket is always added.";
    };
    metricsListen = lib.mkOption {
      type = lib.types.str;
      default = metricsListen;
      description = "host:port of Prometheus /metrics (--metrics-listen); \"off\" disables.";
    };
    stateDir = lib.mkOption {
      type = lib.types.strMatching "/var/lib/.+";
      default = stateDir;
      description = "State directory (--state-dir), created 0700 by systemd (StateDirectory=).";
    };
    logLevel = lib.mkOption {
      type = lib.types.enum [ "debug" "info" "warn" "error" ];
      default = "info";
      description = "Log level (--log-level).";
    };
    extraFlags = lib.mkOption {
      type = lib.types.listOf lib.types.str;
      default = [ ];
      description = "Further flags, appended to the command line.";
    };
  };
}
