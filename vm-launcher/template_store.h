// VM templates on disk: <state>/templates/<id>/ holds the guest RAM (a sparse
// file), the device state and template.json, the record; all 0600 in 0700
// directories, readable by the launcher alone. A template is the memory of a
// booted guest that was never welcomed (agent.proto, "Templates"): it holds
// no VM's identity, disks or secrets, but it is the image's running code and
// the kernel's state, a secret of the same class as a VM's memory.
//
// A template is found by the whole of its key (TemplateKey::Id): the image's
// name and root hash, its kernel command line, the VMM's identity (binary
// hash, accelerator) and the VM's shape. Anything else makes another id, so
// a template made with one QEMU binary or image is never restored by another.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "vm-launcher/template_ram.h"

namespace clawos::launcher {

struct TemplateKey {
  std::string image;      // the imported image's name
  std::string root_hash;  // its dm-verity root hash (verified before the build)
  std::string cmdline;    // its kernel command line
  std::string kernel;     // its kernel's and initramfs' SHA-256 (from the signed manifest)
  std::string vmm;        // VmmBackend::Identity()
  int vcpus = 1;
  int memory_mib = 256;
  int64_t runtime_disk_mib = 256;
  int64_t workspace_disk_mib = 1024;
  // 16 lower-case hex digits: SHA-256 of every field above and of the
  // template format's version.
  std::string Id() const;
};

struct TemplateRecord {
  std::string id;
  TemplateKey key;
  absl::Time create_time;
  absl::Duration build_time;
  int64_t ram_bytes = 0;       // the guest's memory
  int64_t ram_data_bytes = 0;  // of it, what the guest had touched (stored)
  int64_t state_bytes = 0;
  std::string ram_sha256;
  std::string state_sha256;
};

class TemplateStore {
 public:
  // Creates `dir` (0700) if needed and removes unfinished builds.
  static absl::StatusOr<std::unique_ptr<TemplateStore>> Open(const std::string& dir);

  absl::StatusOr<TemplateRecord> Find(const std::string& id) const;  // NOT_FOUND
  std::vector<TemplateRecord> List() const;                          // oldest first
  // Removes it from disk and forgets its loaded memory (VMs restored from it
  // keep their own mapping). With `only_if_ram_sha256`, only while the
  // record on disk is still that one (not a rebuild made meanwhile).
  absl::Status Delete(const std::string& id, const std::string& only_if_ram_sha256 = "");

  // A build's scratch directory <dir>/.build-<id>, made empty (0700).
  absl::StatusOr<std::string> BeginBuild(const std::string& id);
  // Takes a build in: `ram` saved to the build directory, `state_file` (a
  // file in it) hashed, the record written, then the directory renamed into
  // place. Completes `record` (sizes, hashes); `ram` is sealed and kept
  // loaded for restores.
  absl::Status Commit(TemplateRecord& record, std::unique_ptr<TemplateRam> ram,
                      const std::string& state_file);
  void AbandonBuild(const std::string& id);

  // A template's sealed memory: loaded once (its SHA-256 checked), then
  // shared by every restore. At most kMaxLoaded stay loaded, the least
  // recently used let go first (VMs restored from it keep their mapping).
  static constexpr size_t kMaxLoaded = 4;
  absl::StatusOr<std::shared_ptr<TemplateRam>> Ram(const TemplateRecord& record);
  // The device state, checked against its SHA-256, in a new memfd at offset
  // 0 (the caller closes it).
  absl::StatusOr<int> OpenState(const TemplateRecord& record) const;

 private:
  explicit TemplateStore(std::string dir) : dir_(std::move(dir)) {}
  std::string Dir(const std::string& id) const { return dir_ + "/" + id; }
  struct Loaded {
    std::shared_ptr<TemplateRam> ram;
    std::string ram_sha256;  // of the record it was loaded for
    uint64_t last_use = 0;
  };
  void KeepLoaded(const std::string& id, Loaded loaded);  // holds mu_
  const std::string dir_;
  mutable std::mutex mu_;  // the loaded memory; commits and deletes
  std::map<std::string, Loaded> loaded_;
  uint64_t uses_ = 0;
};

}  // namespace clawos::launcher
