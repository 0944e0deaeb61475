#include "image/builder.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"
#include "image/initramfs.h"
#include "image/kernel.h"
#include "image/rootfs.h"
#include "image/verity.h"

namespace clawos::image {
namespace {

constexpr char kBaseCmdline[] = "console=ttyS0 reboot=k panic=-1 loglevel=4";

absl::StatusOr<ManifestFile> Describe(const std::string& dir, const std::string& name) {
  ASSIGN_OR_RETURN(auto digest, crypto::Sha256File(dir + "/" + name));
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(dir + "/" + name, ec);
  if (ec) return absl::InternalError(absl::StrCat("size of ", name, ": ", ec.message()));
  return ManifestFile{name, size, crypto::HexEncode(digest)};
}

std::string PackageVersion(const std::string& package) {
  auto out = RunChecked({"dpkg-query", "-W", "-f=${Version}", package});
  return out.ok() ? *out : "unknown";
}

}  // namespace

std::string DefaultCacheDir() {
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/clawos";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/clawos";
  return "/var/cache/clawos";
}

absl::StatusOr<Manifest> BuildImage(const BuildOptions& o) {
  auto step = [&](const std::string& s) {
    if (o.progress) o.progress(s);
  };
  if (o.out_dir.empty()) return absl::InvalidArgumentError("--out is required");
  if (o.rootfs_format != "ext4" && o.rootfs_format != "erofs" && o.rootfs_format != "squashfs") {
    return absl::InvalidArgumentError(
        absl::StrCat("--rootfs-format ", o.rootfs_format, " is not one of ext4, erofs, squashfs"));
  }
  RETURN_IF_ERROR(MakeDirs(o.out_dir));
  Manifest m;
  m.rootfs_format = o.rootfs_format;
  m.source_date_epoch = o.source_date_epoch;

  step("fetching the guest kernel (" + o.kernel_package + ")");
  ASSIGN_OR_RETURN(GuestKernel kernel, FetchKernel(o.kernel_package, o.cache_dir));
  m.kernel_version = kernel.version;
  ASSIGN_OR_RETURN(std::string bz, ReadFile(kernel.bzimage()));
  RETURN_IF_ERROR(WriteFileAtomic(o.out_dir + "/vmlinuz", bz, 0644));
  step("extracting vmlinux from " + kernel.package);
  RETURN_IF_ERROR(ExtractVmlinux(kernel.bzimage(), o.out_dir + "/vmlinux"));

  step("building the initramfs");
  ASSIGN_OR_RETURN(std::string cpio, BuildInitramfs(kernel, o.rootfs_format, o.source_date_epoch));
  RETURN_IF_ERROR(WriteFileAtomic(o.out_dir + "/initramfs.cpio", cpio, 0644));

  step("staging the root filesystem");
  RootfsOptions ro;
  ro.format = o.rootfs_format;
  ro.agent_path = o.agent_path;
  ro.source_date_epoch = o.source_date_epoch;
  ro.uuid =
      UuidFromDigest(crypto::Sha256Of(absl::StrCat("clawos-rootfs-uuid/1/", o.source_date_epoch)));
  ro.release =
      absl::StrCat("clawos-image name=", m.name, " kernel=", kernel.version,
                   " rootfs=", o.rootfs_format, " source_date_epoch=", o.source_date_epoch, "\n");
  std::string staging = o.out_dir + "/.rootfs-staging";
  std::filesystem::remove_all(staging);
  RETURN_IF_ERROR(StageRootfs(staging, ro));
  step("making the " + o.rootfs_format + " root filesystem");
  auto made = MakeRootfsImage(staging, o.out_dir + "/rootfs.img", ro);
  std::filesystem::remove_all(staging);
  RETURN_IF_ERROR(made);

  step("computing the dm-verity hash tree");
  ASSIGN_OR_RETURN(auto rootfs_digest, crypto::Sha256File(o.out_dir + "/rootfs.img"));
  VerityParams vp;
  auto salt =
      crypto::Sha256Of(absl::StrCat("clawos-verity-salt/1/", crypto::HexEncode(rootfs_digest)));
  vp.salt.assign(salt.begin(), salt.end());
  std::string vuuid = UuidFromDigest(
      crypto::Sha256Of(absl::StrCat("clawos-verity-uuid/1/", crypto::HexEncode(salt))));
  std::string vuuid_hex;
  for (char c : vuuid) {
    if (c != '-') vuuid_hex += c;
  }
  auto vuuid_bytes = crypto::HexDecode(vuuid_hex).value();
  std::copy(vuuid_bytes.begin(), vuuid_bytes.end(), vp.uuid.begin());
  ASSIGN_OR_RETURN(VerityTree tree,
                   VerityFormat(o.out_dir + "/rootfs.img", o.out_dir + "/rootfs.verity", vp));

  step("writing manifest.json");
  ASSIGN_OR_RETURN(m.kernel, Describe(o.out_dir, "vmlinuz"));
  ASSIGN_OR_RETURN(m.vmlinux, Describe(o.out_dir, "vmlinux"));
  ASSIGN_OR_RETURN(m.initramfs, Describe(o.out_dir, "initramfs.cpio"));
  ASSIGN_OR_RETURN(m.rootfs, Describe(o.out_dir, "rootfs.img"));
  ASSIGN_OR_RETURN(m.verity_hash, Describe(o.out_dir, "rootfs.verity"));
  m.verity.data_blocks = tree.data_blocks;
  m.verity.hash_start_block = tree.hash_start_block;
  m.verity.root_hash = crypto::HexEncode(tree.root_hash);
  m.verity.salt = crypto::HexEncode(vp.salt);
  m.verity.uuid = vuuid;
  m.cmdline = absl::StrCat(kBaseCmdline, " ", VerityCmdline(m));
  m.inputs = {
      {"kernel_package", {{"name", kernel.package}, {"version", kernel.package_version}}},
      {"busybox-static", PackageVersion("busybox-static")},
      {"dmsetup", PackageVersion("dmsetup")},
      {"ca-certificates", PackageVersion("ca-certificates")},
      {"e2fsprogs", PackageVersion("e2fsprogs")},
      {"squashfs-tools", PackageVersion("squashfs-tools")},
      {"erofs-utils", PackageVersion("erofs-utils")},
      {"clawos-agent_sha256",
       crypto::HexEncode(crypto::Sha256File(o.agent_path).value_or(crypto::Sha256Digest{}))}};
  RETURN_IF_ERROR(WriteManifest(o.out_dir, m));
  // A rebuilt image is unsigned until signed again.
  ::unlink((o.out_dir + "/" + kSignatureFile).c_str());
  return m;
}

}  // namespace clawos::image
