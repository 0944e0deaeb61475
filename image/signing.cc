#include "image/signing.h"

#include <sys/stat.h>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/jwk.h"
#include "common/crypto/sha256.h"
#include "common/files.h"
#include "common/json.h"
#include "common/status.h"
#include "common/utf8.h"
#include "image/verity.h"

namespace clawos::image {
namespace {

absl::StatusOr<std::vector<uint8_t>> Hex32(const std::string& text, const std::string& what) {
  std::string t(absl::StripAsciiWhitespace(text));
  auto bytes = crypto::HexDecode(t);
  if (!bytes.ok() || bytes->size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(what, " must be 64 hex characters"));
  }
  return bytes;
}

absl::Status CheckFile(const std::string& dir, const char* role, const ManifestFile& f) {
  std::string path = absl::StrCat(dir, "/", f.path);
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    return absl::NotFoundError(absl::StrCat(role, " file ", f.path, " is missing from ", dir));
  }
  if (static_cast<uint64_t>(st.st_size) != f.size) {
    return absl::DataLossError(absl::StrCat(role, " file ", f.path, " is ", st.st_size,
                                            " bytes; the signed manifest says ", f.size));
  }
  ASSIGN_OR_RETURN(auto digest, crypto::Sha256File(path));
  if (crypto::HexEncode(digest) != f.sha256) {
    return absl::DataLossError(absl::StrCat(role, " file ", f.path,
                                            ": SHA-256 does not match the signed manifest "
                                            "(changed after signing)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<crypto::Ed25519PublicKey> GenerateSigningKey(const std::string& key_dir) {
  RETURN_IF_ERROR(EnsurePrivateDir(key_dir));
  std::string priv = absl::StrCat(key_dir, "/", kPrivateKeyFile);
  std::string pub = absl::StrCat(key_dir, "/", kPublicKeyFile);
  if (PathExists(priv) || PathExists(pub)) {
    return absl::AlreadyExistsError(
        absl::StrCat(key_dir, " already holds a signing key; refusing to overwrite it"));
  }
  ASSIGN_OR_RETURN(auto key, crypto::Ed25519PrivateKey::Generate());
  auto seed = key.Seed();
  std::string hex = crypto::HexEncode(seed.span()) + "\n";
  auto s = WriteFileAtomic(priv, hex, 0600);
  crypto::SecureZero(hex.data(), hex.size());
  RETURN_IF_ERROR(s);
  RETURN_IF_ERROR(WriteFileAtomic(pub, crypto::HexEncode(key.public_key()) + "\n", 0644));
  return key.public_key();
}

absl::StatusOr<crypto::Ed25519PrivateKey> LoadSigningKey(const std::string& path) {
  RETURN_IF_ERROR(CheckPrivateFile(path));
  ASSIGN_OR_RETURN(std::string text, ReadFile(path));
  auto seed = Hex32(text, absl::StrCat("signing key ", path));
  crypto::SecureZero(text.data(), text.size());
  if (!seed.ok()) return seed.status();
  auto key = crypto::Ed25519PrivateKey::FromSeed(*seed);
  crypto::SecureZero(seed->data(), seed->size());
  return key;
}

absl::StatusOr<crypto::Ed25519PublicKey> ParsePublicKey(const std::string& hex_or_path) {
  std::string text = hex_or_path;
  if (text.size() != 64 || PathExists(text)) {
    ASSIGN_OR_RETURN(text, ReadFile(hex_or_path));
  }
  ASSIGN_OR_RETURN(auto bytes, Hex32(text, "public key"));
  crypto::Ed25519PublicKey out{};
  std::copy(bytes.begin(), bytes.end(), out.begin());
  return out;
}

absl::Status SignImage(const std::string& dir, const crypto::Ed25519PrivateKey& key) {
  std::string raw;
  ASSIGN_OR_RETURN(Manifest m, ReadManifest(dir, &raw));
  ASSIGN_OR_RETURN(auto sig, key.Sign(crypto::AsBytes(raw)));
  nlohmann::json doc = {{"alg", "EdDSA"},
                        {"kid", crypto::Ed25519Thumbprint(key.public_key())},
                        {"sig", crypto::Base64UrlEncode(sig)}};
  return WriteFileAtomic(absl::StrCat(dir, "/", kSignatureFile), doc.dump() + "\n", 0644);
}

absl::StatusOr<Manifest> VerifyImage(const std::string& dir,
                                     const crypto::Ed25519PublicKey& public_key,
                                     const VerifyOptions& options) {
  std::string sig_path = absl::StrCat(dir, "/", kSignatureFile);
  if (!PathExists(sig_path)) {
    return absl::PermissionDeniedError(
        absl::StrCat("image is unsigned: ", sig_path, " is missing"));
  }
  std::string raw;
  ASSIGN_OR_RETURN(Manifest m, ReadManifest(dir, &raw));
  ASSIGN_OR_RETURN(std::string sig_text, ReadFile(sig_path, kMaxManifestBytes));
  auto doc = nlohmann::json::parse(sig_text, nullptr, false);
  if (doc.is_discarded() || json::String(doc, "alg").value_or("") != "EdDSA" ||
      !json::String(doc, "sig")) {
    return absl::PermissionDeniedError(absl::StrCat(sig_path, " is not a ClawOS image signature"));
  }
  auto sig = crypto::Base64UrlDecode(doc["sig"].get<std::string>());
  std::string our_kid = crypto::Ed25519Thumbprint(public_key);
  if (!sig.ok() || !crypto::Ed25519Verify(public_key, crypto::AsBytes(raw), *sig)) {
    std::string their_kid = ToSafeText(json::String(doc, "kid").value_or("unknown"), 128, false);
    if (their_kid != our_kid) {
      return absl::PermissionDeniedError(absl::StrCat("wrong key: the image was signed by key ",
                                                      their_kid, ", not by the trusted key ",
                                                      our_kid));
    }
    return absl::PermissionDeniedError(
        "signature does not verify: manifest.json or manifest.sig changed after signing");
  }
  RETURN_IF_ERROR(CheckFile(dir, "kernel", m.kernel));
  RETURN_IF_ERROR(CheckFile(dir, "vmlinux", m.vmlinux));
  RETURN_IF_ERROR(CheckFile(dir, "initramfs", m.initramfs));
  RETURN_IF_ERROR(CheckFile(dir, "verity hash", m.verity_hash));
  std::string hash_path = absl::StrCat(dir, "/", m.verity_hash.path);
  ASSIGN_OR_RETURN(VeritySuperblock sb, ReadVeritySuperblock(hash_path));
  if (sb.data_blocks != m.verity.data_blocks || crypto::HexEncode(sb.salt) != m.verity.salt) {
    return absl::DataLossError(
        absl::StrCat(m.verity_hash.path, ": superblock disagrees with the signed manifest"));
  }
  if (options.full) {
    std::string rootfs = absl::StrCat(dir, "/", m.rootfs.path);
    if (!PathExists(rootfs)) {
      return absl::NotFoundError(
          absl::StrCat("rootfs file ", m.rootfs.path, " is missing from ", dir));
    }
    ASSIGN_OR_RETURN(RootHash root, ParseRootHash(m.verity.root_hash));
    RETURN_IF_ERROR(VerityVerify(rootfs, hash_path, root, options.threads));
  }
  return m;
}

}  // namespace clawos::image
