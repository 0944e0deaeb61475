# clawos.tls — nginx with TLS in front of clawos-controlplane: a certificate
# from ACME (Let's Encrypt) when acmeEmail is set, else a self-signed one made
# once on the host. The same settings as deploy/nginx/clawos.conf.
{ config, lib, pkgs, ... }:

let
  cfg = config.clawos.tls;
  cp = config.services.clawos-controlplane;
  inherit (lib) mkOption types;
  selfSigned = cfg.acmeEmail == null;
  certDir = "/var/lib/clawos/tls";
  stream = extra: {
    proxyPass = "http://clawos_controlplane";
    extraConfig = ''
      proxy_buffering off;
      proxy_cache off;
      proxy_read_timeout 1h;
    '' + extra;
  };
in
{
  options.clawos.tls = {
    enable = lib.mkEnableOption "nginx with TLS in front of the control plane";
    domain = mkOption {
      type = types.str;
      example = "clawos.example.com";
      description = "The host name clients use; the certificate is for it.";
    };
    acmeEmail = mkOption {
      type = types.nullOr types.str;
      default = null;
      example = "ops@example.com";
      description = "Contact for ACME (Let's Encrypt); null makes a self-signed certificate instead.";
    };
  };

  config = lib.mkIf cfg.enable {
    assertions = [{
      assertion = cp.enable;
      message = "clawos.tls fronts services.clawos-controlplane: enable it too.";
    }];
    security.acme = lib.mkIf (!selfSigned) {
      acceptTerms = true;
      defaults.email = cfg.acmeEmail;
    };
    # The self-signed certificate: P-256, made once, readable by nginx only.
    systemd.services.clawos-tls-selfsigned = lib.mkIf selfSigned {
      description = "ClawOS: a self-signed TLS certificate for ${cfg.domain}";
      wantedBy = [ "nginx.service" ];
      before = [ "nginx.service" ];
      unitConfig.ConditionPathExists = "!${certDir}/clawos.crt";
      serviceConfig = {
        Type = "oneshot";
        UMask = "0077";
        StateDirectory = "clawos/tls";
        ExecStart = pkgs.writeShellScript "clawos-tls-selfsigned" ''
          ${pkgs.openssl}/bin/openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
            -days 825 -subj "/CN=${cfg.domain}" -addext "subjectAltName=DNS:${cfg.domain},DNS:localhost,IP:127.0.0.1" \
            -keyout ${certDir}/clawos.key -out ${certDir}/clawos.crt
          chown nginx:nginx ${certDir}/clawos.key
          chmod 0644 ${certDir}/clawos.crt
        '';
      };
    };
    services.nginx = {
      enable = true;
      recommendedProxySettings = false;
      serverTokens = false;
      sslProtocols = "TLSv1.2 TLSv1.3";
      sslCiphers = "ECDHE-ECDSA-AES128-GCM-SHA256:ECDHE-RSA-AES128-GCM-SHA256:ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:ECDHE-ECDSA-CHACHA20-POLY1305:ECDHE-RSA-CHACHA20-POLY1305";
      appendHttpConfig = ''
        map $http_x_request_id $clawos_request_id {
          default $http_x_request_id;
          ""      $request_id;
        }
      '';
      upstreams.clawos_controlplane = {
        servers."${cp.listenAddr}" = { };
        extraConfig = "keepalive 16;";
      };
      virtualHosts.${cfg.domain} = {
        forceSSL = true;
        http2 = true;
        enableACME = !selfSigned;
        sslCertificate = lib.mkIf selfSigned "${certDir}/clawos.crt";
        sslCertificateKey = lib.mkIf selfSigned "${certDir}/clawos.key";
        extraConfig = ''
          ssl_session_tickets off;
          add_header Strict-Transport-Security "max-age=63072000; includeSubDomains" always;
          add_header X-Content-Type-Options nosniff always;
          add_header X-Frame-Options DENY always;
          add_header Referrer-Policy no-referrer always;
          client_max_body_size ${toString cp.maxBody};
          proxy_http_version 1.1;
          proxy_set_header Connection "";
          proxy_set_header Host $host;
          proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
          proxy_set_header X-Forwarded-Proto https;
          proxy_set_header X-Request-Id $clawos_request_id;
          proxy_hide_header X-Content-Type-Options;
        '';
        # Prometheus scrapes the control plane on loopback, never through here.
        locations."= /metrics".extraConfig = ''
          default_type application/json;
          return 404 '{"code":5,"message":"no route for /metrics","details":[]}';
        '';
        locations."= /v1/events" = stream "";
        locations."~ ^/v1/workflows/[^/]+/events$" = stream "";
        locations."~ ^/v1/vms/[^/]+(/logs|:exec)$" = stream "proxy_request_buffering off;\n";
        locations."/" = {
          proxyPass = "http://clawos_controlplane";
          extraConfig = ''
            proxy_read_timeout 15m;
            proxy_send_timeout 60s;
          '';
        };
      };
    };
    networking.firewall.allowedTCPPorts = [ 80 443 ];
  };
}
