#include "image/kernel.h"

#include <dirent.h>
#include <sys/stat.h>

#include <filesystem>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/files.h"
#include "common/process.h"
#include "common/status.h"

namespace clawos::image {
namespace {

// "linux-image-cloud-amd64" → "linux-image-6.1.0-56-cloud-amd64".
absl::StatusOr<std::string> ResolvePackage(const std::string& package) {
  if (package.find("-6.") != std::string::npos || package.find("-5.") != std::string::npos) {
    return package;  // already versioned
  }
  auto out = RunChecked({"apt-cache", "depends", "--no-recommends", "--no-suggests", package});
  if (!out.ok()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot resolve ", package, " (run apt-get update?): ", out.status().message()));
  }
  for (absl::string_view line : absl::StrSplit(*out, '\n')) {
    line = absl::StripAsciiWhitespace(line);
    if (absl::ConsumePrefix(&line, "Depends: ") && absl::StartsWith(line, "linux-image-")) {
      return std::string(line);
    }
  }
  return absl::NotFoundError(absl::StrCat(package, " does not depend on a linux-image package"));
}

// A cached .deb of `package`, or "".
std::string CachedDeb(const std::string& dir, const std::string& package) {
  std::string found;
  if (DIR* d = opendir(dir.c_str())) {
    while (dirent* e = readdir(d)) {
      std::string n = e->d_name;
      if (absl::StartsWith(n, package + "_") && absl::EndsWith(n, ".deb")) found = dir + "/" + n;
    }
    closedir(d);
  }
  return found;
}

}  // namespace

absl::StatusOr<GuestKernel> FetchKernel(const std::string& package, const std::string& cache_dir) {
  GuestKernel k;
  ASSIGN_OR_RETURN(k.package, ResolvePackage(package));
  std::string debs = cache_dir + "/debs";
  RETURN_IF_ERROR(MakeDirs(debs));
  std::string deb = CachedDeb(debs, k.package);
  if (deb.empty()) {
    ProcessOptions o;
    o.cwd = debs;
    o.timeout = absl::Minutes(15);
    auto dl =
        RunChecked({"apt-get", "-q", "-o", "APT::Sandbox::User=root", "download", k.package}, o);
    if (!dl.ok()) {
      return absl::UnavailableError(
          absl::StrCat("downloading ", k.package, " failed: ", dl.status().message()));
    }
    deb = CachedDeb(debs, k.package);
    if (deb.empty())
      return absl::InternalError(absl::StrCat("apt-get download left no .deb in ", debs));
  }
  ASSIGN_OR_RETURN(std::string ver, RunChecked({"dpkg-deb", "-f", deb, "Version"}));
  k.package_version = std::string(absl::StripAsciiWhitespace(ver));
  k.version = k.package.substr(std::string("linux-image-").size());
  k.root = absl::StrCat(cache_dir, "/kernels/", k.package, "_", k.package_version);
  if (!PathExists(k.root + "/.complete")) {
    std::string tmp = k.root + ".tmp";
    std::filesystem::remove_all(tmp);
    RETURN_IF_ERROR(MakeDirs(tmp));
    RETURN_IF_ERROR(RunChecked({"dpkg", "-x", deb, tmp}).status());
    // The package ships no modules.dep; modprobe needs one.
    RETURN_IF_ERROR(RunChecked({"depmod", "-b", tmp, k.version}).status());
    RETURN_IF_ERROR(WriteFileAtomic(tmp + "/.complete", "", 0644));
    std::filesystem::remove_all(k.root);
    std::filesystem::rename(tmp, k.root);
  }
  if (!PathExists(k.bzimage())) {
    return absl::NotFoundError(absl::StrCat(deb, " holds no ", k.bzimage()));
  }
  return k;
}

absl::StatusOr<std::vector<std::string>> ModuleLoadOrder(const GuestKernel& k,
                                                         const std::vector<std::string>& modules) {
  std::string base = absl::StrCat(k.root, "/lib/modules/", k.version, "/");
  std::vector<std::string> order;
  std::set<std::string> seen;
  for (const std::string& m : modules) {
    auto out = RunChecked({"modprobe", "-d", k.root, "-S", k.version, "--show-depends", m});
    if (!out.ok()) return Annotate(out.status(), absl::StrCat("kernel module ", m));
    for (absl::string_view line : absl::StrSplit(*out, '\n', absl::SkipEmpty())) {
      line = absl::StripAsciiWhitespace(line);
      if (!absl::ConsumePrefix(&line, "insmod ")) continue;  // "builtin x": nothing to load
      std::string path(line);
      if (!absl::StartsWith(path, base)) {
        return absl::InternalError(absl::StrCat("modprobe named ", path, " outside ", base));
      }
      std::string rel = path.substr(base.size());
      if (seen.insert(rel).second) order.push_back(rel);
    }
  }
  return order;
}

absl::Status ExtractVmlinux(const std::string& bzimage, const std::string& out_path) {
  ASSIGN_OR_RETURN(std::string image, ReadFile(bzimage));
  static const std::string kLz4Legacy("\x02\x21\x4c\x18", 4);
  size_t at = image.find(kLz4Legacy);
  if (at == std::string::npos) {
    return absl::UnimplementedError(
        absl::StrCat(bzimage, " has no LZ4 payload; only LZ4 kernels are supported"));
  }
  ProcessOptions o;
  o.stdin_data = image.substr(at);
  ASSIGN_OR_RETURN(ProcessResult r, RunProcess({"lz4", "-dc"}, o));
  // lz4 exits non-zero on the bzImage's trailer after the stream; the ELF is complete.
  if (r.out.size() < (1 << 20) || r.out.compare(0, 4,
                                                "\x7f"
                                                "ELF") != 0) {
    return absl::DataLossError(
        absl::StrCat("lz4 did not produce an ELF kernel from ", bzimage, ": ", r.err));
  }
  return WriteFileAtomic(out_path, r.out, 0644);
}

}  // namespace clawos::image
