#include "image/manifest.h"

#include "absl/strings/str_cat.h"
#include "common/files.h"
#include "common/status.h"

namespace clawos::image {
namespace {

using nlohmann::json;

json FileJson(const ManifestFile& f) {
  return {{"path", f.path}, {"size", f.size}, {"sha256", f.sha256}};
}

absl::Status Bad(const std::string& field, const std::string& why) {
  return absl::InvalidArgumentError(absl::StrCat("manifest: ", field, " ", why));
}

absl::StatusOr<std::string> Str(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return Bad(where + key, "is missing or not a string");
  return it->get<std::string>();
}

absl::StatusOr<uint64_t> Uint(const json& j, const char* key, const std::string& where) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_integer() ||
      (!it->is_number_unsigned() && it->get<int64_t>() < 0)) {
    return Bad(where + key, "is missing or not a non-negative integer");
  }
  return it->get<uint64_t>();
}

bool IsHex(const std::string& s, size_t len) {
  if (len != 0 && s.size() != len) return false;
  return s.find_first_not_of("0123456789abcdef") == std::string::npos;
}

absl::StatusOr<ManifestFile> FileFrom(const json& j, const char* key) {
  auto it = j.find(key);
  std::string where = absl::StrCat(key, ".");
  if (it == j.end() || !it->is_object()) return Bad(key, "is missing");
  ManifestFile f;
  ASSIGN_OR_RETURN(f.path, Str(*it, "path", where));
  ASSIGN_OR_RETURN(f.size, Uint(*it, "size", where));
  ASSIGN_OR_RETURN(f.sha256, Str(*it, "sha256", where));
  if (f.path.empty() || f.path.find('/') != std::string::npos || f.path == "." || f.path == "..") {
    return Bad(where + "path", "must be a plain file name in the image directory");
  }
  if (!IsHex(f.sha256, 64)) return Bad(where + "sha256", "is not 64 lowercase hex characters");
  return f;
}

}  // namespace

json ManifestToJson(const Manifest& m) {
  const ManifestVerity& v = m.verity;
  return {{"format", m.format},
          {"name", m.name},
          {"kernel_version", m.kernel_version},
          {"kernel", FileJson(m.kernel)},
          {"vmlinux", FileJson(m.vmlinux)},
          {"initramfs", FileJson(m.initramfs)},
          {"rootfs", FileJson(m.rootfs)},
          {"rootfs_format", m.rootfs_format},
          {"verity_hash", FileJson(m.verity_hash)},
          {"verity",
           {{"hash_type", v.hash_type},
            {"algorithm", v.algorithm},
            {"data_block_size", v.data_block_size},
            {"hash_block_size", v.hash_block_size},
            {"data_blocks", v.data_blocks},
            {"hash_start_block", v.hash_start_block},
            {"root_hash", v.root_hash},
            {"salt", v.salt},
            {"uuid", v.uuid}}},
          {"cmdline", m.cmdline},
          {"source_date_epoch", m.source_date_epoch},
          {"inputs", m.inputs}};
}

absl::StatusOr<Manifest> ManifestFromJson(const json& j) {
  if (!j.is_object()) return Bad("document", "is not a JSON object");
  Manifest m;
  ASSIGN_OR_RETURN(m.format, Str(j, "format", ""));
  if (m.format != kManifestFormat) {
    return Bad("format", absl::StrCat("is \"", m.format, "\", expected \"", kManifestFormat, "\""));
  }
  ASSIGN_OR_RETURN(m.name, Str(j, "name", ""));
  ASSIGN_OR_RETURN(m.kernel_version, Str(j, "kernel_version", ""));
  ASSIGN_OR_RETURN(m.kernel, FileFrom(j, "kernel"));
  ASSIGN_OR_RETURN(m.vmlinux, FileFrom(j, "vmlinux"));
  ASSIGN_OR_RETURN(m.initramfs, FileFrom(j, "initramfs"));
  ASSIGN_OR_RETURN(m.rootfs, FileFrom(j, "rootfs"));
  ASSIGN_OR_RETURN(m.verity_hash, FileFrom(j, "verity_hash"));
  ASSIGN_OR_RETURN(m.rootfs_format, Str(j, "rootfs_format", ""));
  if (m.rootfs_format != "ext4" && m.rootfs_format != "erofs" && m.rootfs_format != "squashfs") {
    return Bad("rootfs_format", "must be ext4, erofs or squashfs");
  }
  auto vit = j.find("verity");
  if (vit == j.end() || !vit->is_object()) return Bad("verity", "is missing");
  ManifestVerity& v = m.verity;
  ASSIGN_OR_RETURN(uint64_t hash_type, Uint(*vit, "hash_type", "verity."));
  ASSIGN_OR_RETURN(v.algorithm, Str(*vit, "algorithm", "verity."));
  ASSIGN_OR_RETURN(uint64_t dbs, Uint(*vit, "data_block_size", "verity."));
  ASSIGN_OR_RETURN(uint64_t hbs, Uint(*vit, "hash_block_size", "verity."));
  ASSIGN_OR_RETURN(v.data_blocks, Uint(*vit, "data_blocks", "verity."));
  ASSIGN_OR_RETURN(v.hash_start_block, Uint(*vit, "hash_start_block", "verity."));
  ASSIGN_OR_RETURN(v.root_hash, Str(*vit, "root_hash", "verity."));
  ASSIGN_OR_RETURN(v.salt, Str(*vit, "salt", "verity."));
  ASSIGN_OR_RETURN(v.uuid, Str(*vit, "uuid", "verity."));
  if (hash_type != 1 || v.algorithm != "sha256" || dbs != 4096 || hbs != 4096) {
    return Bad("verity", "must be format 1, sha256, 4096-byte blocks");
  }
  v.hash_type = 1;
  v.data_block_size = v.hash_block_size = 4096;
  if (!IsHex(v.root_hash, 64)) return Bad("verity.root_hash", "is not 64 lowercase hex characters");
  if (!IsHex(v.salt, 0) || v.salt.size() % 2 != 0 || v.salt.size() > 512) {
    return Bad("verity.salt", "is not lowercase hex of at most 256 bytes");
  }
  if (v.data_blocks == 0 || v.data_blocks > (m.rootfs.size >> 12) ||
      v.data_blocks * 4096 != m.rootfs.size) {  // the first test keeps the product from wrapping
    return Bad("verity.data_blocks", "does not cover rootfs.size exactly");
  }
  ASSIGN_OR_RETURN(m.cmdline, Str(j, "cmdline", ""));
  auto sde = j.find("source_date_epoch");
  if (sde == j.end() || !sde->is_number_integer()) return Bad("source_date_epoch", "is missing");
  m.source_date_epoch = sde->get<int64_t>();
  if (auto in = j.find("inputs"); in != j.end() && in->is_object()) m.inputs = *in;
  return m;
}

std::string CanonicalManifest(const Manifest& m) { return ManifestToJson(m).dump() + "\n"; }

absl::StatusOr<Manifest> ReadManifest(const std::string& dir, std::string* raw) {
  std::string path = absl::StrCat(dir, "/", kManifestFile);
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, kMaxManifestBytes));
  auto j = json::parse(text, nullptr, false);
  if (j.is_discarded()) return absl::InvalidArgumentError(absl::StrCat(path, " is not JSON"));
  auto m = ManifestFromJson(j);
  if (!m.ok()) return Annotate(m.status(), path);
  if (CanonicalManifest(*m) != text) {
    return absl::InvalidArgumentError(absl::StrCat(
        path,
        " is not in canonical form (it was edited after it was written); rebuild or re-sign"));
  }
  if (raw) *raw = std::move(text);
  return m;
}

absl::Status WriteManifest(const std::string& dir, const Manifest& m) {
  return WriteFileAtomic(absl::StrCat(dir, "/", kManifestFile), CanonicalManifest(m), 0644);
}

std::string VerityCmdline(const Manifest& m) {
  const ManifestVerity& v = m.verity;
  return absl::StrCat(
      "clawos.root_hash=", v.root_hash, " clawos.salt=", v.salt.empty() ? "-" : v.salt,
      " clawos.data_blocks=", v.data_blocks, " clawos.hash_start=", v.hash_start_block,
      " clawos.rootfs=", m.rootfs_format);
}

}  // namespace clawos::image
