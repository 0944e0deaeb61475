// Test helper: a small but complete image directory — stand-in kernel,
// vmlinux and initramfs files, a real rootfs with a real verity tree, and a
// canonical manifest — for tests of signing and verification (not for booting).
#pragma once

#include <string>

#include "absl/strings/str_cat.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "common/files.h"
#include "image/manifest.h"
#include "image/verity.h"

namespace clawos::image::testing {

inline ManifestFile Describe(const std::string& dir, const std::string& name) {
  std::string data = ReadFile(dir + "/" + name).value();
  return {name, data.size(), crypto::HexEncode(crypto::Sha256Of(data))};
}

// Writes the files and manifest.json into `dir` (which must exist).
inline Manifest MakeFakeImage(const std::string& dir, uint64_t rootfs_blocks = 40) {
  WriteFileAtomic(dir + "/vmlinuz", std::string(10000, 'k'), 0644).IgnoreError();
  WriteFileAtomic(dir + "/vmlinux", std::string(20000, 'x'), 0644).IgnoreError();
  WriteFileAtomic(dir + "/initramfs.cpio", std::string(3000, 'i'), 0644).IgnoreError();
  std::string rootfs;
  for (uint64_t b = 0; b < rootfs_blocks; ++b)
    rootfs += std::string(4096, static_cast<char>('a' + b % 26));
  WriteFileAtomic(dir + "/rootfs.img", rootfs, 0644).IgnoreError();
  VerityParams p;
  p.salt = {0xde, 0xad, 0xbe, 0xef};
  auto tree = VerityFormat(dir + "/rootfs.img", dir + "/rootfs.verity", p).value();
  Manifest m;
  m.kernel_version = "6.1.0-test-cloud-amd64";
  m.kernel = Describe(dir, "vmlinuz");
  m.vmlinux = Describe(dir, "vmlinux");
  m.initramfs = Describe(dir, "initramfs.cpio");
  m.rootfs = Describe(dir, "rootfs.img");
  m.rootfs_format = "ext4";
  m.verity_hash = Describe(dir, "rootfs.verity");
  m.verity.data_blocks = tree.data_blocks;
  m.verity.root_hash = crypto::HexEncode(tree.root_hash);
  m.verity.salt = crypto::HexEncode(p.salt);
  m.verity.uuid = "00000000-0000-0000-0000-000000000000";
  m.cmdline = "console=ttyS0 " + VerityCmdline(m);
  m.source_date_epoch = 1700000000;
  WriteManifest(dir, m).IgnoreError();
  return m;
}

}  // namespace clawos::image::testing
