// What the orchestrator needs from clawos-vm-launcher, as plain calls: VMs
// created, started and deleted, commands run, files moved. One implementation
// talks to the launcher's gRPC API (MakeGrpcLauncherOps).
#pragma once

#include <grpcpp/channel.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace clawos::orchestrator {

struct VmRequest {
  std::string id;  // the VM id (not "vms/<id>")
  std::string image;
  int vcpus = 1;
  int memory_mib = 256;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> labels;
};

struct VmInfo {
  bool exists = false;
  bool running = false;
  std::string state;  // the launcher's state name, e.g. "RUNNING", "STOPPED"
  std::string subject;
  std::map<std::string, std::string> labels;
};

struct ExecRequest {
  std::string vm;  // id
  std::vector<std::string> argv;
  std::map<std::string, std::string> env;
  std::optional<absl::Duration> timeout;
};

struct ExecResult {
  int exit_code = -1;
  int signal = 0;
  bool timed_out = false;
  std::string stdout_data;  // at most `max_stdout` + 1 bytes are kept
  std::string stderr_data;  // the last `max_stderr` bytes
};

// Set to cancel an Exec in flight from another thread.
class CancelToken {
 public:
  virtual ~CancelToken() = default;
  virtual void Cancel() = 0;
};

// True if `vm` exists and carries every label of `labels` with its value.
bool HasLabels(const VmInfo& vm, const std::map<std::string, std::string>& labels);

class LauncherOps {
 public:
  virtual ~LauncherOps() = default;
  virtual absl::StatusOr<VmInfo> GetVm(const std::string& id) = 0;
  // Creates the VM if it does not exist and starts it unless it is RUNNING;
  // returns when the guest is ready. `on_owned` is called once the launcher has
  // shown a VM with this id that carries every label of req.labels (the one
  // just created, or one that existed), before it is started: from then on it
  // is the caller's to stop and delete. A VM without them (existing, or created
  // by someone else meanwhile) belongs to someone else: FAILED_PRECONDITION,
  // never adopted, and `on_owned` is not called.
  virtual absl::StatusOr<VmInfo> EnsureRunning(
      const VmRequest& req, const std::function<void(const VmInfo&)>& on_owned) = 0;
  virtual absl::Status StopVm(const std::string& id) = 0;
  // Deletes the VM (killing it if it runs); a missing VM is OK.
  virtual absl::Status DeleteVm(const std::string& id) = 0;
  // Runs a command. `on_start` receives a token that cancels the call; the
  // token is valid until Exec returns.
  virtual absl::StatusOr<ExecResult> Exec(const ExecRequest& req, size_t max_stdout,
                                          size_t max_stderr,
                                          const std::function<void(CancelToken*)>& on_start) = 0;
  // Reads a file of at most `max_bytes`; FAILED_PRECONDITION if it is larger.
  virtual absl::StatusOr<std::string> GetFile(const std::string& vm, const std::string& path,
                                              size_t max_bytes) = 0;
  virtual absl::Status PutFile(const std::string& vm, const std::string& path,
                               const std::string& content) = 0;
};

std::unique_ptr<LauncherOps> MakeGrpcLauncherOps(std::shared_ptr<grpc::Channel> channel);

}  // namespace clawos::orchestrator
