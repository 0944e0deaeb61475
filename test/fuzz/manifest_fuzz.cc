// libFuzzer target for image manifests and image verification
// (image/manifest.h, image/signing.h): what the launcher and the CLI trust
// before a guest boots.
//
// Input byte 0 % 2 picks the mode:
//   0: the rest is a manifest.json: parsed (ManifestFromJson) and read from a
//      file (ReadManifest);
//   1: the rest says how to corrupt one file of a small signed image (built
//      once, with a real verity tree): which file, how (overwrite bytes at an
//      offset, truncate, append, replace, delete) and the bytes; then the
//      image is verified (VerifyImage, walking the verity tree when the
//      rootfs or its hash file changed) and the file restored.
// An exception is a crash (std::terminate). Properties checked beside the
// sanitizers: a parsed manifest names plain file names and lowercase hex
// digests, its data blocks cover the rootfs exactly, and it survives a
// round trip through JSON unchanged; ReadManifest accepts a file only in
// canonical form (its bytes are the canonical bytes); a corrupted image
// verifies when its bytes are unchanged and never when a protected byte
// changed (manifest.sig may change in form if it still carries the same
// signature; rootfs.img past the verity-covered blocks is not protected),
// and the refusal is PERMISSION_DENIED, DATA_LOSS, NOT_FOUND or
// INVALID_ARGUMENT.
#include <fuzzer/FuzzedDataProvider.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/crypto/ed25519.h"
#include "common/crypto/encoding.h"
#include "common/files.h"
#include "image/manifest.h"
#include "image/signing.h"
#include "image/testing/fake_image.h"
#include "test/fuzz/require.h"
#include "test/fuzz/scratch_dir.h"

namespace {

using namespace clawos;
using namespace clawos::image;
using nlohmann::json;

using clawos::fuzz::Require;

bool IsLowerHex(const std::string& s) {
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

void CheckFile(const ManifestFile& f) {
  Require(!f.path.empty() && f.path.find('/') == std::string::npos && f.path != "." &&
          f.path != "..");
  Require(f.sha256.size() == 64 && IsLowerHex(f.sha256));
}

std::string Scratch();

void CheckManifest(const std::string& text) {
  json j = json::parse(text, nullptr, false);
  if (!j.is_discarded()) {
    auto m = ManifestFromJson(j);
    if (m.ok()) {
      for (const ManifestFile* f :
           {&m->kernel, &m->vmlinux, &m->initramfs, &m->rootfs, &m->verity_hash}) {
        CheckFile(*f);
      }
      Require(m->verity.root_hash.size() == 64 && IsLowerHex(m->verity.root_hash));
      Require(IsLowerHex(m->verity.salt) && m->verity.salt.size() % 2 == 0);
      Require(m->verity.data_blocks <= (m->rootfs.size >> 12) &&
              uint64_t{m->verity.data_blocks} * 4096 == m->rootfs.size);
      auto again = ManifestFromJson(ManifestToJson(*m));
      Require(again.ok() && CanonicalManifest(*again) == CanonicalManifest(*m));
    } else {
      Require(m.status().code() == absl::StatusCode::kInvalidArgument);
    }
  }
  Require(WriteFileAtomic(Scratch() + "/" + kManifestFile, text, 0644).ok());
  std::string raw;
  auto read = ReadManifest(Scratch(), &raw);
  if (read.ok()) Require(raw == text && CanonicalManifest(*read) == text);
}

// A signed image on tmpfs, made once; files are corrupted and restored.
struct Image {
  std::string dir;
  crypto::Ed25519PrivateKey key =
      crypto::Ed25519PrivateKey::FromSeed(std::vector<uint8_t>(32, 7)).value();
  Manifest manifest;
  std::vector<std::string> files;
  std::vector<std::string> originals;
};

Image& TheImage() {
  static Image* image = [] {
    auto* im = new Image;
    im->dir = fuzz::ScratchDir("manifest_fuzz_image");
    im->manifest = testing::MakeFakeImage(im->dir, /*rootfs_blocks=*/3);
    Require(SignImage(im->dir, im->key).ok());
    im->files = {kManifestFile,
                 kSignatureFile,
                 im->manifest.kernel.path,
                 im->manifest.vmlinux.path,
                 im->manifest.initramfs.path,
                 im->manifest.rootfs.path,
                 im->manifest.verity_hash.path};
    for (const auto& f : im->files) im->originals.push_back(ReadFile(im->dir + "/" + f).value());
    Require(VerifyImage(im->dir, im->key.public_key(), {true, 1}).ok());
    return im;
  }();
  return *image;
}

std::string Scratch() {
  static const std::string* dir = new std::string(fuzz::ScratchDir("manifest_fuzz_scratch"));
  return *dir;
}

void RemoveDirs() {
  fuzz::RemoveScratch(TheImage().dir);
  fuzz::RemoveScratch(Scratch());
}

// The signature bytes a manifest.sig carries, or "" when it carries none.
std::string SignatureOf(const std::string& sig_text) {
  json doc = json::parse(sig_text, nullptr, false);
  if (!doc.is_object() || !doc.contains("alg") || doc["alg"] != "EdDSA" || !doc.contains("sig") ||
      !doc["sig"].is_string()) {
    return "";
  }
  auto sig = crypto::Base64UrlDecode(doc["sig"].get<std::string>());
  return sig.ok() ? crypto::AsString(*sig) : "";
}

void CheckCorruption(FuzzedDataProvider& in) {
  Image& im = TheImage();
  size_t which = in.ConsumeIntegralInRange<size_t>(0, im.files.size() - 1);
  int op = in.ConsumeIntegralInRange(0, 4);
  const std::string& original = im.originals[which];
  size_t at = in.ConsumeIntegralInRange<size_t>(0, original.size());
  std::string bytes = in.ConsumeRemainingBytesAsString();
  std::string changed = original;
  switch (op) {
    case 0:
      changed.replace(at, std::min(bytes.size(), changed.size() - at), bytes);
      break;
    case 1:
      changed.resize(at);
      break;
    case 2:
      changed += bytes;
      break;
    case 3:
      changed = bytes;
      break;
    default:
      break;
  }
  const std::string path = im.dir + "/" + im.files[which];
  if (op == 4) {
    Require(unlink(path.c_str()) == 0);
  } else {
    Require(WriteFileAtomic(path, changed, 0644).ok());
  }
  // The full walk of the verity tree (a 1 MiB read buffer each time) only
  // where it matters: the other files are covered by the signature and digests.
  const bool full =
      im.files[which] == im.manifest.rootfs.path || im.files[which] == im.manifest.verity_hash.path;
  auto verified = VerifyImage(im.dir, im.key.public_key(), {full, 1});
  Require(WriteFileAtomic(path, original, 0644).ok());

  // Unchanged bytes must verify; a manifest.sig that still carries the same
  // signature, or a rootfs.img changed only past the blocks verity covers,
  // may verify; anything else must not.
  const bool must_pass = op != 4 && changed == original;
  bool may_pass = must_pass;
  if (op != 4 && im.files[which] == kSignatureFile) {
    may_pass = may_pass || SignatureOf(changed) == SignatureOf(original);
  }
  if (op != 4 && im.files[which] == im.manifest.rootfs.path) {
    size_t covered = im.manifest.verity.data_blocks * 4096;
    may_pass =
        may_pass || (changed.size() >= covered && changed.compare(0, covered, original) == 0);
  }
  if (verified.ok()) {
    Require(may_pass && CanonicalManifest(*verified) == CanonicalManifest(im.manifest));
    return;
  }
  Require(!must_pass);
  absl::StatusCode code = verified.status().code();
  Require(code == absl::StatusCode::kPermissionDenied || code == absl::StatusCode::kDataLoss ||
          code == absl::StatusCode::kNotFound || code == absl::StatusCode::kInvalidArgument);
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  TheImage();
  Scratch();
  std::atexit(RemoveDirs);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  if (data[0] % 2 == 0) {
    CheckManifest(std::string(reinterpret_cast<const char*>(data + 1), size - 1));
  } else {
    FuzzedDataProvider in(data + 1, size - 1);
    CheckCorruption(in);
  }
  return 0;
}
