#include "vm-launcher/verified_images.h"

#include <sys/stat.h>

#include <algorithm>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "image/signing.h"

namespace clawos::launcher {
namespace {

// "" when the file cannot be stat'ed: never equal to a remembered one.
std::string Fingerprint(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return "";
  return absl::StrCat(st.st_dev, ":", st.st_ino, ":", st.st_size, ":", st.st_mtim.tv_sec, ".",
                      st.st_mtim.tv_nsec, ":", st.st_ctim.tv_sec, ".", st.st_ctim.tv_nsec);
}

// Every entry of the image directory (it holds the image and nothing else),
// in name order.
std::vector<std::string> Fingerprints(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    std::string path = e.path().string();
    out.push_back(e.path().filename().string() + "=" + Fingerprint(path));
  }
  if (ec) return {""};
  std::sort(out.begin(), out.end());
  return out;
}

}  // namespace

absl::StatusOr<image::Manifest> VerifiedImages::Verify(const std::string& dir,
                                                       const crypto::Ed25519PublicKey& key) {
  // Taken before the hashing: a file changed during it no longer matches.
  std::vector<std::string> now = Fingerprints(dir);
  bool readable = !now.empty();
  for (const std::string& f : now) readable = readable && f.back() != '=';
  {
    std::lock_guard lock(mu_);
    if (auto it = verified_.find(dir); it != verified_.end()) {
      if (readable && it->second.key == key && it->second.fingerprints == now) {
        return it->second.manifest;
      }
      verified_.erase(it);
    }
  }
  auto manifest = image::VerifyImage(dir, key, {false, 0});
  if (!manifest.ok() || !readable) return manifest;
  std::lock_guard lock(mu_);
  verified_[dir] = Entry{key, std::move(now), *manifest};
  return manifest;
}

}  // namespace clawos::launcher
