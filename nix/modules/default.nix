# nixosModules.default: every ClawOS module. Enable the services you want on a
# host; nix/hosts/host.nix enables them all.
{
  imports = [
    ./clawos.nix
    ./identity.nix
    ./inference-proxy.nix
    ./monitor.nix
    ./vm-launcher.nix
    ./orchestrator.nix
    ./controlplane.nix
    ./tls.nix
    ./verified-boot.nix
  ];
}
