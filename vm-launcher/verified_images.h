// Every start verifies its image again (the signature, every artefact's size
// and SHA-256): ~100 MB hashed, ~80 ms of CPU per start, which a restore
// from a template (0.5 s) would otherwise spend a sixth of on it. This keeps,
// per image directory, the identity of each file at the last verification
// that passed — device, inode, size, modification and change times. While
// none of them changed, that verification stands; any change (a write, a
// rename, a new file) verifies again in full. Writing a file without moving
// its ctime needs root on the host, which owns the host anyway; the guest
// reads its root through dm-verity whatever happens here.
#pragma once

#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/crypto/ed25519.h"
#include "image/manifest.h"

namespace clawos::launcher {

class VerifiedImages {
 public:
  // image::VerifyImage (not full), or its remembered result.
  absl::StatusOr<image::Manifest> Verify(const std::string& dir,
                                         const crypto::Ed25519PublicKey& key);

 private:
  struct Entry {
    crypto::Ed25519PublicKey key;
    std::vector<std::string> fingerprints;  // manifest, signature, artefacts
    image::Manifest manifest;
  };
  std::mutex mu_;
  std::map<std::string, Entry> verified_;
};

}  // namespace clawos::launcher
