{
  description = "ClawOS: autonomous AI agents, one per verified microVM";

  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.05";

  outputs = { self, nixpkgs }:
    let
      systems = [ "x86_64-linux" ];
      forAll = f: nixpkgs.lib.genAttrs systems (system: f nixpkgs.legacyPackages.${system});
      # One build of everything; each daemon is its binary out of it.
      only = pkgs: clawos: name:
        pkgs.runCommand name { meta.mainProgram = name; } ''
          mkdir -p $out/bin
          ln -s ${clawos}/bin/${name} $out/bin/${name}
        '';
    in
    {
      packages = forAll (pkgs:
        let clawos = pkgs.callPackage ./nix/packages/clawos.nix { };
        in {
          default = clawos;
          inherit clawos;
          clawos-cli = only pkgs clawos "clawos";
          # The launcher and the jailer it starts every VMM with.
          vm-launcher = pkgs.symlinkJoin {
            name = "clawos-vm-launcher";
            paths = [ (only pkgs clawos "clawos-vm-launcher") (only pkgs clawos "clawos-jailer") ];
          };
          clawos-orchestrator = only pkgs clawos "clawos-orchestrator";
          clawos-identity-manager = only pkgs clawos "clawos-identity";
          clawos-control-plane = only pkgs clawos "clawos-controlplane";
          inference-proxy = only pkgs clawos "clawos-inference-proxy";
          clawos-monitor = only pkgs clawos "clawos-monitor";
          # The guest image tooling: `clawos image build|sign|verify|keygen`
          # and the static agent it puts into images.
          image-tools = pkgs.symlinkJoin {
            name = "clawos-image-tools";
            paths = [ (only pkgs clawos "clawos") (only pkgs clawos "clawos-agent") ];
          };
        });

      nixosModules.default = import ./nix/modules;

      nixosConfigurations.clawos-host = nixpkgs.lib.nixosSystem {
        system = "x86_64-linux";
        modules = [ self.nixosModules.default ./nix/hosts/host.nix ];
      };

      devShells = forAll (pkgs: {
        default = pkgs.mkShell {
          inputsFrom = [ self.packages.${pkgs.system}.clawos ];
          packages = with pkgs; [ clang-tools gdb qemu_kvm cryptsetup e2fsprogs squashfsTools
            erofs-utils lz4 nginx openssl curl python3 python3Packages.pyyaml nix ];
        };
      });
    };
}
