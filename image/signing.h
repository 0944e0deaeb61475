// Ed25519 image signing: keys, manifest.sig, and verification of an image
// directory against a public key. Each failure says exactly what failed.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "common/crypto/ed25519.h"
#include "image/manifest.h"

namespace clawos::image {

inline constexpr char kPrivateKeyFile[] = "signing.key";
inline constexpr char kPublicKeyFile[] = "signing.pub";

// Makes KEYDIR (0700) with signing.key (hex seed, 0600) and signing.pub
// (hex public key, the CLAWOS_SIGNING_PUBKEY form). Refuses to overwrite.
absl::StatusOr<crypto::Ed25519PublicKey> GenerateSigningKey(const std::string& key_dir);
// A private key file as written by GenerateSigningKey; refuses modes other than 0600.
absl::StatusOr<crypto::Ed25519PrivateKey> LoadSigningKey(const std::string& path);
// 64 hex characters, or a file holding them.
absl::StatusOr<crypto::Ed25519PublicKey> ParsePublicKey(const std::string& hex_or_path);

// Writes DIR/manifest.sig: {"alg":"EdDSA","kid":<RFC 7638 thumbprint>,"sig":<b64url>}
// over the canonical bytes of DIR/manifest.json.
absl::Status SignImage(const std::string& dir, const crypto::Ed25519PrivateKey& key);

struct VerifyOptions {
  bool full = false;  // also walk the whole dm-verity hash tree
  int threads = 0;
};

// Checks, in order: the signature is present and verifies under `public_key`;
// every listed file's size and SHA-256; the hash file's superblock agrees with
// the manifest; with `full`, every block of the tree. PERMISSION_DENIED for
// signature problems, DATA_LOSS for content that changed, NOT_FOUND for
// missing files — the message names the file (and block).
absl::StatusOr<Manifest> VerifyImage(const std::string& dir,
                                     const crypto::Ed25519PublicKey& public_key,
                                     const VerifyOptions& options = {});

}  // namespace clawos::image
