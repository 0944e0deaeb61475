# services.clawos-inference-proxy — daemon: clawos-inference-proxy (docs/inference-proxy.md)
{ config, lib, pkgs, utils, ... }:

let
  cfg = config.services.clawos-inference-proxy;
  clib = import ./lib.nix { inherit lib utils; };
  inherit (lib) mkOption types;
in
{
  options.services.clawos-inference-proxy = clib.commonOptions {
    name = "inference-proxy";
    package = pkgs.callPackage ../packages/clawos.nix { };
    listenAddr = "127.0.0.1:11435";
    metricsListen = "127.0.0.1:9084";
    stateDir = "/var/lib/clawos/proxy";
  } // {
    adminListenAddr = mkOption {
      type = types.str;
      default = "127.0.0.1:2084";
      description = "TCP host:port of the admin gRPC API (--admin-listen); the unix socket is always added.";
    };
    rateLimitRPM = mkOption {
      type = types.ints.unsigned;
      default = 60;
      description = "Default requests per minute per agent (--rpm, CLAWOS_PROXY_RATE_LIMIT_RPM).";
    };
    rateLimitTPM = mkOption {
      type = types.ints.unsigned;
      default = 0;
      description = "Default tokens per minute per agent (--tpm); 0: none.";
    };
    budgetTokens = mkOption {
      type = types.ints.unsigned;
      default = 0;
      description = "Default token budget per agent per budget window (--budget-tokens); 0: none.";
    };
    budgetWindow = mkOption {
      type = types.str;
      default = "24h";
      description = "The sliding window of the token budget (--budget-window).";
    };
    openaiUrl = mkOption {
      type = types.str;
      default = "https://api.openai.com";
      description = "OpenAI-compatible upstream (--openai-url).";
    };
    anthropicUrl = mkOption {
      type = types.str;
      default = "https://api.anthropic.com";
      description = "Anthropic-compatible upstream (--anthropic-url).";
    };
    environmentFile = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "/run/secrets/clawos-proxy.env";
      description = ''
        File with the provider keys, CLAWOS_OPENAI_API_KEY=... and
        CLAWOS_ANTHROPIC_API_KEY=... (root-owned, 0600). Read by systemd; the keys
        never appear on the command line or in the Nix store.
      '';
    };
  };

  config = lib.mkIf cfg.enable {
    systemd.services.clawos-inference-proxy = {
      description = "ClawOS inference proxy: rate limits, token ledger, audit";
      wantedBy = [ "clawos.target" ];
      partOf = [ "clawos.target" ];
      after = [ "network-online.target" "clawos-identity.service" ];
      wants = [ "network-online.target" "clawos-identity.service" ];
      serviceConfig = clib.unprivileged // {
        ExecStart = clib.execStart "${cfg.package}/bin/clawos-inference-proxy" {
          "--state-dir" = cfg.stateDir;
          "--listen" = cfg.listenAddr;
          "--identity" = clib.sockets.identity;
          "--admin-listen" = [ cfg.adminListenAddr clib.sockets.proxyAdmin ];
          "--admin-socket-mode" = "0660";
          "--metrics-listen" = cfg.metricsListen;
          "--log-level" = cfg.logLevel;
          "--rpm" = cfg.rateLimitRPM;
          "--tpm" = cfg.rateLimitTPM;
          "--budget-tokens" = cfg.budgetTokens;
          "--budget-window" = cfg.budgetWindow;
          "--openai-url" = cfg.openaiUrl;
          "--anthropic-url" = cfg.anthropicUrl;
        } cfg.extraFlags;
        # "-": a missing file is not an error (no provider keys yet).
        EnvironmentFile = lib.optional (cfg.environmentFile != null) "-${cfg.environmentFile}";
        StateDirectory = clib.stateDirectory cfg.stateDir;
        StateDirectoryMode = "0700";
        RuntimeDirectory = "clawos/proxy";
        RuntimeDirectoryMode = "0750";
      };
    };
  };
}
