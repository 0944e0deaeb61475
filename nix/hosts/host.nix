# The ClawOS host: KVM, the agents' bridge, every ClawOS service, nginx TLS in
# front of the control plane, a firewall that opens only 80/443.
#   nixos-rebuild switch --flake .#clawos-host
# Replace the hardware part (file systems, boot loader) with your machine's
# nixos-generate-config output.
{ config, lib, pkgs, ... }:

{
  imports = [ ../modules ];  # the flake adds it too: the module system loads each file once

  # --- hardware: replace with this machine's own -----------------------------
  boot.loader.systemd-boot.enable = lib.mkDefault true;
  fileSystems."/" = lib.mkDefault { device = "/dev/disk/by-label/nixos"; fsType = "ext4"; };
  # ---------------------------------------------------------------------------

  networking.hostName = "clawos-host";
  system.stateVersion = "24.05";

  # KVM for the agent VMs (the launcher falls back to TCG without it), tun for
  # their tap devices, BTF for the eBPF monitor (NixOS kernels have it).
  boot.kernelModules = [ "kvm-intel" "kvm-amd" "tun" ];
  # The host is an appliance: no unprivileged user namespaces, no kexec.
  boot.kernel.sysctl = {
    "kernel.unprivileged_bpf_disabled" = 1;
    "kernel.kexec_load_disabled" = 1;
    "net.ipv4.ip_forward" = 1;  # BRIDGE-networked VMs reach the proxy through the host
  };

  # The agents' bridge: VMs with BRIDGE networking get 10.88.0.x and may reach
  # only the inference proxy's port (the launcher's nftables rules).
  networking.bridges.clawbr0.interfaces = [ ];
  networking.interfaces.clawbr0.ipv4.addresses = [{ address = "10.88.0.1"; prefixLength = 24; }];

  networking.firewall = {
    enable = true;
    allowedTCPPorts = [ 22 ];  # 80 and 443 come from clawos.tls
    # Nothing else is exposed: every daemon listens on 127.0.0.1 and unix sockets.
  };
  services.openssh = {
    enable = true;
    settings.PasswordAuthentication = false;
    settings.PermitRootLogin = "prohibit-password";
  };

  clawos.verifiedBoot = {
    enable = true;
    enableSigning = true;  # or: publicKey = "<hex>"; and sign images elsewhere
  };
  clawos.tls = {
    enable = true;
    domain = "clawos.example.com";
    acmeEmail = null;  # "ops@example.com" for a Let's Encrypt certificate
  };

  services.clawos-identity.enable = true;
  services.clawos-inference-proxy = {
    enable = true;
    listenAddr = "127.0.0.1:11435";
    rateLimitRPM = 60;
    environmentFile = "/etc/clawos/inference-proxy.env";  # CLAWOS_OPENAI_API_KEY=..., 0600
  };
  services.clawos-monitor = {
    enable = true;
    siem = {
      enable = false;  # true, with host = "siem.example.com"; for CEF over TLS syslog
      host = "siem.example.com";
      protocol = "tls";
      port = 6514;
    };
  };
  services.clawos-vm-launcher = {
    enable = true;
    bridge = "clawbr0";
    maxVms = 16;
  };
  services.clawos-orchestrator.enable = true;
  services.clawos-controlplane.enable = true;
}
