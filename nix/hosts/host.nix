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
  system.stateVersion = "25.05";

  # tun for the VMs' tap devices (udev loads kvm-intel or kvm-amd by itself;
  # without KVM the launcher falls back to TCG). NixOS kernels have the BTF
  # the eBPF monitor needs.
  boot.kernelModules = [ "tun" ];
  # The host is an appliance: no unprivileged BPF, no kexec.
  boot.kernel.sysctl = {
    "kernel.unprivileged_bpf_disabled" = 1;
    "kernel.kexec_load_disabled" = 1;
    "net.ipv4.ip_forward" = 1;  # BRIDGE-networked VMs reach the proxy through the host
  };

  # The agents' bridge clawbr0 (10.88.0.1/24) is the launcher's: it creates it,
  # addresses it and loads the nftables rules that let VMs reach only the
  # inference proxy's port. It is not declared here, so that a network restart
  # never drops running VMs' taps.

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
