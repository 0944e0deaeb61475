#include "cli/image_commands.h"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/random.h"
#include "image/builder.h"
#include "image/signing.h"
#include "image/verity.h"

namespace clawos::cli {
namespace {

std::string SelfDir() {
  std::error_code ec;
  auto p = std::filesystem::read_symlink("/proc/self/exe", ec);
  return ec ? "." : p.parent_path().string();
}

absl::StatusOr<std::array<uint8_t, 16>> ParseUuid(const std::string& text) {
  std::string hex;
  for (char c : text) {
    if (c != '-') hex += c;
  }
  auto b = crypto::HexDecode(hex);
  if (!b.ok() || b->size() != 16) return absl::InvalidArgumentError("--uuid must be a UUID");
  std::array<uint8_t, 16> out{};
  std::copy(b->begin(), b->end(), out.begin());
  return out;
}

void AddVerityCommands(CLI::App* image, Context& ctx, int& rc) {
  auto* verity = image->add_subcommand("verity", "dm-verity hash trees (veritysetup-compatible)")
                     ->require_subcommand(1);
  struct Args {
    std::string data, hash, salt, uuid, root;
  };
  auto a = std::make_shared<Args>();
  auto* format = verity->add_subcommand("format", "Build the hash tree of DATA into HASHFILE");
  format->add_option("data", a->data, "Data file (a multiple of 4096 bytes)")->required();
  format->add_option("hashfile", a->hash, "Hash file to write")->required();
  format->add_option("--salt", a->salt, "Salt as hex (default: 32 random bytes; '-' for none)");
  format->add_option("--uuid", a->uuid, "Superblock UUID (default: random)");
  format->callback([&ctx, &rc, a] {
    image::VerityParams p;
    if (a->salt.empty()) {
      p.salt = crypto::RandomBytes(32).value();
    } else if (a->salt != "-") {
      auto s = crypto::HexDecode(a->salt);
      if (!s.ok()) {
        rc = ReportError("image verity format", absl::InvalidArgumentError("--salt is not hex"));
        return;
      }
      p.salt = *s;
    }
    auto uuid = a->uuid.empty() ? absl::StatusOr<std::array<uint8_t, 16>>([] {
      auto r = crypto::RandomBytes(16).value();
      std::array<uint8_t, 16> u{};
      std::copy(r.begin(), r.end(), u.begin());
      u[6] = (u[6] & 0x0f) | 0x40;
      u[8] = (u[8] & 0x3f) | 0x80;
      return u;
    }())
                                : ParseUuid(a->uuid);
    if (!uuid.ok()) {
      rc = ReportError("image verity format", uuid.status());
      return;
    }
    p.uuid = *uuid;
    auto tree = image::VerityFormat(a->data, a->hash, p);
    if (!tree.ok()) {
      rc = ReportError("image verity format", tree.status());
      return;
    }
    std::string root = crypto::HexEncode(tree->root_hash);
    if (ctx.json()) {
      PrintJson({{"root_hash", root},
                 {"salt", crypto::HexEncode(p.salt)},
                 {"data_blocks", tree->data_blocks},
                 {"hash_blocks", tree->hash_blocks},
                 {"hash_file_size", tree->hash_file_size}});
    } else {
      std::printf("VERITY header information for %s\n", a->hash.c_str());
      std::printf("Hash type:       \t1\nData blocks:     \t%llu\nData block size: \t4096\n",
                  static_cast<unsigned long long>(tree->data_blocks));
      std::printf("Hash blocks:     \t%llu\nHash block size: \t4096\nHash algorithm:  \tsha256\n",
                  static_cast<unsigned long long>(tree->hash_blocks));
      std::printf("Salt:            \t%s\n",
                  p.salt.empty() ? "-" : crypto::HexEncode(p.salt).c_str());
      std::printf("Root hash:      \t%s\n", root.c_str());
    }
  });
  auto b = std::make_shared<Args>();
  auto* verify = verity->add_subcommand("verify", "Check DATA against HASHFILE and ROOTHASH");
  verify->add_option("data", b->data, "Data file")->required();
  verify->add_option("hashfile", b->hash, "Hash file")->required();
  verify->add_option("roothash", b->root, "Root hash (hex)")->required();
  verify->callback([&rc, b] {
    auto root = image::ParseRootHash(b->root);
    absl::Status s = root.ok() ? image::VerityVerify(b->data, b->hash, *root) : root.status();
    if (!s.ok()) {
      rc = ReportError("image verity verify", s);
      return;
    }
    std::printf("verified: every block of %s matches root hash %s\n", b->data.c_str(),
                b->root.c_str());
  });
}

}  // namespace

void AddImageCommands(CLI::App& app, Context& ctx, int& rc) {
  auto* image =
      app.add_subcommand("image", "Build, sign and verify guest images")->require_subcommand(1);

  auto bo = std::make_shared<image::BuildOptions>();
  bo->agent_path = SelfDir() + "/clawos-agent";
  bo->cache_dir = image::DefaultCacheDir();
  if (const char* e = std::getenv("SOURCE_DATE_EPOCH"); e && *e)
    bo->source_date_epoch = std::atoll(e);
  auto* build = image->add_subcommand(
      "build", "Build a guest image (kernel, initramfs, verity root, manifest)");
  build->add_option("--out", bo->out_dir, "Output directory")->required();
  build->add_option("--rootfs-format", bo->rootfs_format, "ext4, erofs or squashfs")
      ->check(CLI::IsMember({"ext4", "erofs", "squashfs"}))
      ->capture_default_str();
  build->add_option("--agent", bo->agent_path, "Static clawos-agent to put in the image")
      ->capture_default_str();
  build->add_option("--cache", bo->cache_dir, "Download and unpack cache")->capture_default_str();
  build->add_option("--kernel-package", bo->kernel_package, "Debian kernel package")
      ->capture_default_str();
  build->callback([&ctx, &rc, bo] {
    auto start = std::chrono::steady_clock::now();
    bo->progress = [start](const std::string& step) {
      double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      std::printf("[%6.1fs] %s\n", s, step.c_str());
      std::fflush(stdout);
    };
    auto m = image::BuildImage(*bo);
    if (!m.ok()) {
      rc = ReportError("image build", m.status());
      return;
    }
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    std::printf("[%6.1fs] done: %s (kernel %s, %s root, %llu blocks)\nRoot hash:      \t%s\n", s,
                bo->out_dir.c_str(), m->kernel_version.c_str(), m->rootfs_format.c_str(),
                static_cast<unsigned long long>(m->verity.data_blocks),
                m->verity.root_hash.c_str());
  });

  AddVerityCommands(image, ctx, rc);

  auto keydir = std::make_shared<std::string>();
  auto* keygen = image->add_subcommand("keygen", "Make an Ed25519 image-signing key pair");
  keygen->add_option("--out", *keydir, "Key directory (created 0700)")->required();
  keygen->callback([&rc, keydir] {
    auto pub = image::GenerateSigningKey(*keydir);
    if (!pub.ok()) {
      rc = ReportError("image keygen", pub.status());
      return;
    }
    std::printf("%s\n", crypto::HexEncode(*pub).c_str());
    std::fprintf(stderr, "wrote %s/%s (0600) and %s/%s; the line above is CLAWOS_SIGNING_PUBKEY\n",
                 keydir->c_str(), image::kPrivateKeyFile, keydir->c_str(), image::kPublicKeyFile);
  });

  struct SignArgs {
    std::string key, dir, pubkey;
    bool full = false;
  };
  auto sa = std::make_shared<SignArgs>();
  auto* sign = image->add_subcommand("sign", "Sign DIR/manifest.json into DIR/manifest.sig");
  sign->add_option("--key", sa->key, "Private key file (signing.key, mode 0600)")->required();
  sign->add_option("dir", sa->dir, "Image directory")->required();
  sign->callback([&rc, sa] {
    auto key = image::LoadSigningKey(sa->key);
    absl::Status s = key.ok() ? image::SignImage(sa->dir, *key) : key.status();
    if (!s.ok()) {
      rc = ReportError("image sign", s);
      return;
    }
    std::printf("signed %s/%s\n", sa->dir.c_str(), image::kSignatureFile);
  });

  auto va = std::make_shared<SignArgs>();
  auto* verify = image->add_subcommand("verify", "Verify an image's signature and contents");
  verify->add_option("--pubkey", va->pubkey, "Public key (hex) or a file holding it")
      ->envname("CLAWOS_SIGNING_PUBKEY")
      ->required();
  verify->add_flag("--full", va->full, "Also check every block of the dm-verity hash tree");
  verify->add_option("dir", va->dir, "Image directory")->required();
  verify->callback([&ctx, &rc, va] {
    auto pub = image::ParsePublicKey(va->pubkey);
    if (!pub.ok()) {
      rc = ReportError("image verify", pub.status());
      return;
    }
    auto m = image::VerifyImage(va->dir, *pub, {va->full, 0});
    if (!m.ok()) {
      rc = ReportError("image verify", m.status());
      return;
    }
    if (ctx.json()) {
      PrintJson({{"verified", true},
                 {"full", va->full},
                 {"root_hash", m->verity.root_hash},
                 {"kernel_version", m->kernel_version}});
    } else {
      std::printf("verified: signature, file digests%s; root hash %s\n",
                  va->full ? " and every dm-verity block" : "", m->verity.root_hash.c_str());
    }
  });
}

}  // namespace clawos::cli
