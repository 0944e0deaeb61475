#include "image/initramfs.h"

#include <filesystem>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"
#include "image/cpio.h"

namespace clawos::image {

extern const char kInitramfsInit[];  // image/guest/init, embedded

namespace {

absl::StatusOr<std::string> FindDmsetup() {
  for (const char* p : {"/usr/sbin/dmsetup", "/sbin/dmsetup"}) {
    if (PathExists(p)) return std::string(p);
  }
  return absl::FailedPreconditionError("dmsetup is not installed (package dmsetup)");
}

// The shared objects `binary` loads, as absolute paths (the loader included).
absl::StatusOr<std::vector<std::string>> SharedLibraries(const std::string& binary) {
  ASSIGN_OR_RETURN(std::string out, RunChecked({"ldd", binary}));
  std::vector<std::string> libs;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    line = absl::StripAsciiWhitespace(line);
    size_t arrow = line.find("=> ");
    absl::string_view path = arrow != absl::string_view::npos ? line.substr(arrow + 3) : line;
    path = path.substr(0, path.find(' '));
    if (absl::StartsWith(path, "/")) libs.emplace_back(path);
  }
  return libs;
}

}  // namespace

std::vector<std::string> GuestModules(const std::string& rootfs_format) {
  // virtio_net serves VMs in BRIDGE network mode; without a NIC it stays idle.
  std::vector<std::string> m = {"virtio_mmio", "virtio_blk", "virtio_console", "virtio_net",
                                "dm-verity"};
  if (rootfs_format == "squashfs") m.push_back("squashfs");
  if (rootfs_format == "erofs") m.push_back("erofs");
  return m;
}

absl::StatusOr<std::string> BuildInitramfs(const GuestKernel& kernel,
                                           const std::string& rootfs_format, int64_t mtime) {
  CpioArchive cpio(mtime);
  for (const char* d : {"dev", "proc", "sys", "newroot", "tmp", "bin", "sbin"})
    cpio.AddDirectory(d);
  cpio.AddCharDevice("dev/console", 5, 1);
  cpio.AddCharDevice("dev/null", 1, 3, 0666);
  cpio.AddFile("init", kInitramfsInit, 0755);
  ASSIGN_OR_RETURN(std::string busybox, ReadFile("/bin/busybox"));
  cpio.AddFile("bin/busybox", std::move(busybox), 0755);

  ASSIGN_OR_RETURN(std::string dmsetup, FindDmsetup());
  ASSIGN_OR_RETURN(std::string dm_bin, ReadFile(dmsetup));
  cpio.AddFile("sbin/dmsetup", std::move(dm_bin), 0755);
  ASSIGN_OR_RETURN(auto libs, SharedLibraries(dmsetup));
  for (const std::string& lib : libs) {
    std::error_code ec;
    std::string real = std::filesystem::canonical(lib, ec).string();
    if (ec)
      return absl::NotFoundError(absl::StrCat("library ", lib, " of dmsetup: ", ec.message()));
    ASSIGN_OR_RETURN(std::string data, ReadFile(real));
    cpio.AddFile(lib.substr(1), std::move(data), 0755);  // at the path the loader asks for
  }

  ASSIGN_OR_RETURN(auto order, ModuleLoadOrder(kernel, GuestModules(rootfs_format)));
  std::string listing;
  std::string moddir = absl::StrCat(kernel.root, "/lib/modules/", kernel.version, "/");
  for (const std::string& rel : order) {
    std::string name = rel.substr(rel.rfind('/') + 1);
    ASSIGN_OR_RETURN(std::string ko, ReadFile(moddir + rel));
    cpio.AddFile("lib/modules/" + name, std::move(ko), 0644);
    // CPU-specific accelerations (crc32c-intel needs SSE4.2) are optional:
    // the generic code serves when the CPU lacks the feature.
    bool optional = rel.rfind("kernel/arch/", 0) == 0;
    listing += (optional ? "?" : "") + name + "\n";
  }
  cpio.AddFile("lib/modules/load.order", listing, 0644);
  return cpio.Serialize();
}

}  // namespace clawos::image
