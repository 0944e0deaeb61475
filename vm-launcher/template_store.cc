#include "vm-launcher/template_store.h"

#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/crypto/encoding.h"
#include "common/crypto/sha256.h"
#include "common/files.h"
#include "common/status.h"

namespace clawos::launcher {
namespace {

namespace fs = std::filesystem;

// Changes whenever what a template holds or how a guest is quiesced changes:
// every id changes with it, so no template of an older launcher is restored.
constexpr char kTemplateFormat[] = "clawos-template/1";
constexpr char kRecord[] = "template.json";
constexpr char kRam[] = "ram";
constexpr char kState[] = "state";
constexpr size_t kMaxStateBytes = 16 << 20;

bool IsId(const std::string& id) {
  return id.size() == 16 && id.find_first_not_of("0123456789abcdef") == std::string::npos;
}

std::string Hex(const crypto::Sha256Digest& d) { return crypto::HexEncode(d); }

nlohmann::json ToJson(const TemplateRecord& r) {
  const TemplateKey& k = r.key;
  return {{"id", r.id},
          {"image", k.image},
          {"root_hash", k.root_hash},
          {"cmdline", k.cmdline},
          {"kernel", k.kernel},
          {"vmm", k.vmm},
          {"vcpus", k.vcpus},
          {"memory_mib", k.memory_mib},
          {"runtime_disk_mib", k.runtime_disk_mib},
          {"workspace_disk_mib", k.workspace_disk_mib},
          {"create_ms", absl::ToUnixMillis(r.create_time)},
          {"build_ms", absl::ToInt64Milliseconds(r.build_time)},
          {"ram_bytes", r.ram_bytes},
          {"ram_data_bytes", r.ram_data_bytes},
          {"state_bytes", r.state_bytes},
          {"ram_sha256", r.ram_sha256},
          {"state_sha256", r.state_sha256}};
}

absl::StatusOr<TemplateRecord> FromJson(const std::string& text, const std::string& where) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return absl::DataLossError(absl::StrCat(where, " is not a JSON object"));
  TemplateRecord r;
  TemplateKey& k = r.key;
  try {
    r.id = j.at("id").get<std::string>();
    k.image = j.at("image").get<std::string>();
    k.root_hash = j.at("root_hash").get<std::string>();
    k.cmdline = j.at("cmdline").get<std::string>();
    k.kernel = j.at("kernel").get<std::string>();
    k.vmm = j.at("vmm").get<std::string>();
    k.vcpus = j.at("vcpus").get<int>();
    k.memory_mib = j.at("memory_mib").get<int>();
    k.runtime_disk_mib = j.at("runtime_disk_mib").get<int64_t>();
    k.workspace_disk_mib = j.at("workspace_disk_mib").get<int64_t>();
    r.create_time = absl::FromUnixMillis(j.at("create_ms").get<int64_t>());
    r.build_time = absl::Milliseconds(j.at("build_ms").get<int64_t>());
    r.ram_bytes = j.at("ram_bytes").get<int64_t>();
    r.ram_data_bytes = j.at("ram_data_bytes").get<int64_t>();
    r.state_bytes = j.at("state_bytes").get<int64_t>();
    r.ram_sha256 = j.at("ram_sha256").get<std::string>();
    r.state_sha256 = j.at("state_sha256").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    return absl::DataLossError(absl::StrCat(where, ": ", e.what()));
  }
  if (r.id != k.Id()) {
    return absl::DataLossError(absl::StrCat(where, ": its id does not match its key"));
  }
  return r;
}

}  // namespace

std::string TemplateKey::Id() const {
  crypto::Sha256 h;
  // Length-prefixed fields: no two keys hash alike by shifting a separator.
  for (const std::string& f : {std::string(kTemplateFormat), image, root_hash, cmdline, kernel, vmm,
                               absl::StrCat(vcpus), absl::StrCat(memory_mib),
                               absl::StrCat(runtime_disk_mib), absl::StrCat(workspace_disk_mib)}) {
    h.Update(absl::StrCat(f.size(), ":"));
    h.Update(f);
  }
  return Hex(h.Final()).substr(0, 16);
}

absl::StatusOr<std::unique_ptr<TemplateStore>> TemplateStore::Open(const std::string& dir) {
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  ::chmod(dir.c_str(), 0700);
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.rfind(".build-", 0) == 0) fs::remove_all(e.path(), ec);  // a build cut short
  }
  return std::unique_ptr<TemplateStore>(new TemplateStore(dir));
}

absl::StatusOr<TemplateRecord> TemplateStore::Find(const std::string& id) const {
  if (!IsId(id)) return absl::InvalidArgumentError(absl::StrCat("bad template id \"", id, "\""));
  std::string path = Dir(id) + "/" + kRecord;
  if (!PathExists(path)) return absl::NotFoundError(absl::StrCat("no template ", id));
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, 1 << 20));
  return FromJson(text, path);
}

std::vector<TemplateRecord> TemplateStore::List() const {
  std::vector<TemplateRecord> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir_, ec)) {
    std::string id = e.path().filename().string();
    if (!IsId(id)) continue;
    if (auto r = Find(id); r.ok()) out.push_back(std::move(*r));
  }
  std::sort(out.begin(), out.end(), [](const TemplateRecord& a, const TemplateRecord& b) {
    return a.create_time < b.create_time;
  });
  return out;
}

absl::Status TemplateStore::Delete(const std::string& id, const std::string& only_if_ram_sha256) {
  std::lock_guard lock(mu_);
  ASSIGN_OR_RETURN(TemplateRecord r, Find(id));
  if (!only_if_ram_sha256.empty() && r.ram_sha256 != only_if_ram_sha256) {
    return absl::AbortedError(absl::StrCat("template ", id, " was made again meanwhile"));
  }
  loaded_.erase(id);
  std::error_code ec;
  fs::remove_all(Dir(id), ec);
  if (ec) return absl::InternalError(absl::StrCat("removing template ", id, ": ", ec.message()));
  return absl::OkStatus();
}

absl::StatusOr<std::string> TemplateStore::BeginBuild(const std::string& id) {
  std::string dir = dir_ + "/.build-" + id;
  std::error_code ec;
  fs::remove_all(dir, ec);
  RETURN_IF_ERROR(MakeDirs(dir, 0700));
  return dir;
}

void TemplateStore::AbandonBuild(const std::string& id) {
  std::error_code ec;
  fs::remove_all(dir_ + "/.build-" + id, ec);
}

absl::Status TemplateStore::Commit(TemplateRecord& r, std::unique_ptr<TemplateRam> ram,
                                   const std::string& state_file) {
  const std::string build = dir_ + "/.build-" + r.id;
  r.ram_bytes = ram->bytes();
  r.ram_data_bytes = ram->DataBytes();
  ASSIGN_OR_RETURN(r.ram_sha256, ram->Save(build + "/" + kRam));
  if (state_file != build + "/" + kState) {
    std::error_code ec;
    fs::rename(state_file, build + "/" + kState, ec);
    if (ec) return absl::InternalError(absl::StrCat("moving the device state: ", ec.message()));
  }
  ::chmod((build + "/" + kState).c_str(), 0600);
  ASSIGN_OR_RETURN(crypto::Sha256Digest state_sum, crypto::Sha256File(build + "/" + kState));
  r.state_sha256 = Hex(state_sum);
  r.state_bytes = static_cast<int64_t>(fs::file_size(build + "/" + kState));
  RETURN_IF_ERROR(WriteFileAtomic(build + "/" + kRecord, ToJson(r).dump(2) + "\n", 0600));
  RETURN_IF_ERROR(ram->Seal());
  std::lock_guard lock(mu_);
  std::error_code ec;
  fs::remove_all(Dir(r.id), ec);  // a template of the same key made before
  fs::rename(build, Dir(r.id), ec);
  if (ec) return absl::InternalError(absl::StrCat("storing template ", r.id, ": ", ec.message()));
  KeepLoaded(r.id, {std::shared_ptr<TemplateRam>(std::move(ram)), r.ram_sha256});
  return absl::OkStatus();
}

void TemplateStore::KeepLoaded(const std::string& id, Loaded loaded) {
  loaded.last_use = ++uses_;
  loaded_[id] = std::move(loaded);
  while (loaded_.size() > kMaxLoaded) {
    auto oldest = loaded_.begin();
    for (auto it = loaded_.begin(); it != loaded_.end(); ++it) {
      if (it->second.last_use < oldest->second.last_use) oldest = it;
    }
    loaded_.erase(oldest);
  }
}

absl::StatusOr<std::shared_ptr<TemplateRam>> TemplateStore::Ram(const TemplateRecord& r) {
  std::lock_guard lock(mu_);  // one load at a time: concurrent restores wait for it
  if (auto it = loaded_.find(r.id); it != loaded_.end() && it->second.ram_sha256 == r.ram_sha256) {
    it->second.last_use = ++uses_;
    return it->second.ram;
  }
  ASSIGN_OR_RETURN(std::unique_ptr<TemplateRam> ram,
                   TemplateRam::Load("clawos-template-" + r.id, Dir(r.id) + "/" + kRam, r.ram_bytes,
                                     r.ram_sha256));
  auto shared = std::shared_ptr<TemplateRam>(std::move(ram));
  KeepLoaded(r.id, {shared, r.ram_sha256});
  return shared;
}

absl::StatusOr<int> TemplateStore::OpenState(const TemplateRecord& r) const {
  ASSIGN_OR_RETURN(std::string state, ReadFile(Dir(r.id) + "/" + kState, kMaxStateBytes));
  if (Hex(crypto::Sha256Of(state)) != r.state_sha256) {
    return absl::DataLossError(
        absl::StrCat("template ", r.id, ": the device state does not match its SHA-256"));
  }
  int fd = ::memfd_create("clawos-template-state", MFD_CLOEXEC);
  if (fd < 0) return ErrnoStatus(errno, "memfd for the device state");
  if (::write(fd, state.data(), state.size()) != static_cast<ssize_t>(state.size()) ||
      ::lseek(fd, 0, SEEK_SET) != 0) {
    int e = errno;
    ::close(fd);
    return ErrnoStatus(e, "writing the device state");
  }
  return fd;
}

}  // namespace clawos::launcher
