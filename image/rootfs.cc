#include "image/rootfs.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/crypto/encoding.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"

namespace clawos::image {

extern const char kRootfsInit[];  // image/guest/rootfs-init, embedded

namespace {

namespace fs = std::filesystem;

constexpr char kBusybox[] = "/bin/busybox";
constexpr char kCaBundle[] = "/etc/ssl/certs/ca-certificates.crt";

absl::Status Copy(const std::string& from, const std::string& to, mode_t mode) {
  ASSIGN_OR_RETURN(std::string data, ReadFile(from));
  return WriteFileAtomic(to, data, mode);
}

// Every entry: owner 0:0 (when we may), mtime = epoch.
absl::Status Normalize(const std::string& root, int64_t epoch) {
  timespec times[2] = {{epoch, 0}, {epoch, 0}};
  bool root_user = geteuid() == 0;
  std::error_code ec;
  std::vector<std::string> paths = {root};
  for (auto it = fs::recursive_directory_iterator(root, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    if (ec) return absl::InternalError(absl::StrCat("walking ", root, ": ", ec.message()));
    paths.push_back(it->path().string());
  }
  for (const std::string& p : paths) {
    if (root_user && ::lchown(p.c_str(), 0, 0) != 0)
      return ErrnoStatus(errno, absl::StrCat("chown ", p));
    if (::utimensat(AT_FDCWD, p.c_str(), times, AT_SYMLINK_NOFOLLOW) != 0) {
      return ErrnoStatus(errno, absl::StrCat("setting times on ", p));
    }
  }
  return absl::OkStatus();
}

uint64_t TreeBytes(const std::string& root) {
  uint64_t total = 0;
  std::error_code ec;
  for (auto& e : fs::recursive_directory_iterator(root, ec)) {
    uint64_t size = e.is_regular_file(ec) && !e.is_symlink(ec) ? e.file_size(ec) : 0;
    total += (size + 4095) / 4096 * 4096 + 4096;
  }
  return total;
}

// mke2fs -d copies each source file's ctime (which no one can set) and atime
// (which reading the tree moves); rewrite every inode's times to the epoch so
// two builds give the same bytes.
absl::Status FixExt4Ctimes(const std::string& staging, const std::string& image, int64_t epoch,
                           const ProcessOptions& env) {
  std::string cmds;
  auto add = [&](const std::string& path) {
    // Reading the tree during mke2fs also moved atimes; set every time field.
    for (const char* field : {"atime", "ctime", "mtime", "crtime"}) {
      cmds += absl::StrCat("sif \"", path, "\" ", field, " @", epoch, "\n");
    }
  };
  add("/");
  add("/lost+found");
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(staging, ec);
       it != fs::recursive_directory_iterator(); it.increment(ec)) {
    add(it->path().string().substr(staging.size()));
  }
  std::string script = image + ".debugfs";
  RETURN_IF_ERROR(WriteFileAtomic(script, cmds, 0600));
  auto out = RunChecked({"debugfs", "-w", "-f", script, image}, env);
  ::unlink(script.c_str());
  return out.status();
}

absl::Status PadTo4096(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return ErrnoStatus(errno, absl::StrCat("stat ", path));
  uint64_t size = static_cast<uint64_t>(st.st_size);
  uint64_t padded = (size + 4095) / 4096 * 4096;
  if (padded != size && ::truncate(path.c_str(), static_cast<off_t>(padded)) != 0) {
    return ErrnoStatus(errno, absl::StrCat("padding ", path));
  }
  return absl::OkStatus();
}

}  // namespace

std::string UuidFromDigest(const std::array<uint8_t, 32>& d) {
  std::array<uint8_t, 16> u{};
  std::copy(d.begin(), d.begin() + 16, u.begin());
  u[6] = (u[6] & 0x0f) | 0x40;  // version 4 layout, content-derived
  u[8] = (u[8] & 0x3f) | 0x80;
  std::string h = crypto::HexEncode(u);
  return absl::StrCat(h.substr(0, 8), "-", h.substr(8, 4), "-", h.substr(12, 4), "-",
                      h.substr(16, 4), "-", h.substr(20));
}

absl::StatusOr<bool> IsStaticElf(const std::string& path) {
  ASSIGN_OR_RETURN(std::string elf, ReadFile(path));
  if (elf.size() < 64 ||
      elf.compare(0, 4,
                  "\x7f"
                  "ELF") != 0 ||
      elf[4] != 2) {
    return absl::InvalidArgumentError(absl::StrCat(path, " is not a 64-bit ELF executable"));
  }
  auto u = [&](size_t off, int bytes) {
    uint64_t v = 0;
    for (int i = bytes - 1; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(elf[off + i]);
    return v;
  };
  uint64_t phoff = u(0x20, 8), phentsize = u(0x36, 2), phnum = u(0x38, 2);
  for (uint64_t i = 0; i < phnum; ++i) {
    uint64_t at = phoff + i * phentsize;
    if (at + 4 > elf.size()) break;
    if (u(at, 4) == 3) return false;  // PT_INTERP
  }
  return true;
}

absl::Status StageRootfs(const std::string& staging, const RootfsOptions& o) {
  if (PathExists(staging)) return absl::AlreadyExistsError(absl::StrCat(staging, " exists"));
  ASSIGN_OR_RETURN(bool agent_static, IsStaticElf(o.agent_path));
  if (!agent_static) {
    return absl::FailedPreconditionError(absl::StrCat(
        o.agent_path, " is dynamically linked; the image needs the static clawos-agent"));
  }
  for (const char* d : {"bin", "sbin", "usr/bin", "usr/sbin", "etc/ssl/certs", "etc/clawos", "dev",
                        "proc", "sys", "run", "var", "workspace", "root", "lib"}) {
    RETURN_IF_ERROR(MakeDirs(absl::StrCat(staging, "/", d)));
  }
  RETURN_IF_ERROR(MakeDirs(staging + "/tmp"));
  ::chmod((staging + "/tmp").c_str(), 01777);
  ::chmod((staging + "/root").c_str(), 0700);
  RETURN_IF_ERROR(Copy(kBusybox, staging + "/bin/busybox", 0755));
  ASSIGN_OR_RETURN(std::string applets, RunChecked({kBusybox, "--list-full"}));
  for (absl::string_view a : absl::StrSplit(applets, '\n', absl::SkipEmpty())) {
    std::string link = absl::StrCat(staging, "/", a);
    if (a == "bin/busybox" || a == "sbin/init" || a == "linuxrc") continue;
    RETURN_IF_ERROR(MakeDirs(fs::path(link).parent_path().string()));
    std::error_code ec;
    fs::create_symlink("/bin/busybox", link, ec);
    if (ec && ec != std::errc::file_exists) {
      return absl::InternalError(absl::StrCat("symlink ", link, ": ", ec.message()));
    }
  }
  RETURN_IF_ERROR(WriteFileAtomic(staging + "/sbin/init", kRootfsInit, 0755));
  RETURN_IF_ERROR(Copy(o.agent_path, staging + "/usr/bin/clawos-agent", 0755));
  if (PathExists(kCaBundle)) {
    RETURN_IF_ERROR(Copy(kCaBundle, staging + "/etc/ssl/certs/ca-certificates.crt", 0644));
  } else {
    return absl::FailedPreconditionError(
        absl::StrCat(kCaBundle, " is missing (install ca-certificates)"));
  }
  RETURN_IF_ERROR(
      WriteFileAtomic(staging + "/etc/passwd", "root:x:0:0:root:/root:/bin/sh\n", 0644));
  RETURN_IF_ERROR(WriteFileAtomic(staging + "/etc/group", "root:x:0:\n", 0644));
  RETURN_IF_ERROR(WriteFileAtomic(staging + "/etc/hostname", "clawos\n", 0644));
  // The agent writes each VM's own machine id there (agent/machine.h).
  std::error_code link_ec;
  fs::create_symlink("/run/machine-id", staging + "/etc/machine-id", link_ec);
  if (link_ec) return absl::InternalError("symlink /etc/machine-id: " + link_ec.message());
  RETURN_IF_ERROR(WriteFileAtomic(staging + "/etc/clawos/release", o.release, 0644));
  return Normalize(staging, o.source_date_epoch);
}

absl::Status MakeRootfsImage(const std::string& staging, const std::string& image,
                             const RootfsOptions& o) {
  std::string epoch = std::to_string(o.source_date_epoch);
  ProcessOptions env;
  env.env = {{"SOURCE_DATE_EPOCH", epoch}, {"E2FSPROGS_FAKE_TIME", epoch}};
  ::unlink(image.c_str());
  if (o.format == "ext4") {
    uint64_t bytes = TreeBytes(staging);
    uint64_t size = std::max<uint64_t>(16 << 20, bytes + bytes / 4 + (8 << 20));
    size = (size + (1 << 20) - 1) / (1 << 20) * (1 << 20);
    int fd = ::open(image.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return ErrnoStatus(errno, absl::StrCat("creating ", image));
    int rc = ::ftruncate(fd, static_cast<off_t>(size));
    ::close(fd);
    if (rc != 0) return ErrnoStatus(errno, absl::StrCat("sizing ", image));
    RETURN_IF_ERROR(RunChecked({"mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "clawos-root", "-U",
                                o.uuid, "-m", "0", "-O", "^has_journal", "-E",
                                absl::StrCat("hash_seed=", o.uuid,
                                             ",root_owner=0:0,nodiscard,lazy_itable_init=0"),
                                "-d", staging, image},
                               env)
                        .status());
    RETURN_IF_ERROR(FixExt4Ctimes(staging, image, o.source_date_epoch, env));
  } else if (o.format == "squashfs") {
    RETURN_IF_ERROR(
        RunChecked({"mksquashfs", staging, image, "-noappend", "-all-root", "-mkfs-time", epoch,
                    "-all-time", epoch, "-no-progress", "-quiet", "-comp", "gzip", "-no-xattrs"})
            .status());
  } else if (o.format == "erofs") {
    RETURN_IF_ERROR(RunChecked({"mkfs.erofs", "-T", epoch, "-U", o.uuid, "--all-root", "-x", "-1",
                                image, staging},
                               env)
                        .status());
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("rootfs format \"", o.format, "\" is not one of ext4, erofs, squashfs"));
  }
  return PadTo4096(image);
}

}  // namespace clawos::image
