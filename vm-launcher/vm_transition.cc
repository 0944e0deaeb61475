#include "vm-launcher/vm_transition.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/utf8.h"

namespace clawos::launcher {
namespace {

constexpr size_t kMaxReasonBytes = 2048;  // a failure's message, kept and shown

const char* KindName(VmTransition::Kind k) {
  switch (k) {
    case VmTransition::Kind::kCreated:
      return "finish creating";
    case VmTransition::Kind::kBoot:
      return "start";
    case VmTransition::Kind::kLaunched:
      return "attach a VMM to";
    case VmTransition::Kind::kReady:
      return "mark running";
    case VmTransition::Kind::kStop:
      return "stop";
    case VmTransition::Kind::kStopped:
      return "mark stopped";
    case VmTransition::Kind::kFail:
      return "fail";
  }
  return "change";
}

bool Legal(VmState from, VmTransition::Kind k) {
  using K = VmTransition::Kind;
  switch (k) {
    case K::kCreated:
      return from == VmState::kCreating;
    case K::kBoot:
      return from == VmState::kStopped || from == VmState::kFailed;
    case K::kLaunched:
    case K::kReady:
      return from == VmState::kBooting;
    case K::kStop:
      return from == VmState::kRunning;
    case K::kStopped:
      return from == VmState::kStopping || from == VmState::kBooting;
    case K::kFail:
      return from != VmState::kCreating;
  }
  return false;
}

// No VMM any more: what pointed at it goes.
void Detach(Vm& vm, absl::Time now) {
  vm.pid = 0;
  vm.pid_start_time = 0;
  vm.net_slot = -1;
  vm.stop_time = now;
}

}  // namespace

VmTransition VmTransition::Boot(absl::Time now, int net_slot) {
  VmTransition t{Kind::kBoot, now};
  t.net_slot = net_slot;
  return t;
}

VmTransition VmTransition::Launched(absl::Time now, int64_t pid, uint64_t pid_start_time,
                                    uint64_t cgroup_id) {
  VmTransition t{Kind::kLaunched, now};
  t.pid = pid;
  t.pid_start_time = pid_start_time;
  t.cgroup_id = cgroup_id;
  return t;
}

VmTransition VmTransition::Ready(absl::Time now, std::string agent_version) {
  VmTransition t{Kind::kReady, now};
  t.agent_version = std::move(agent_version);
  return t;
}

VmTransition VmTransition::Stopped(absl::Time now, std::string reason) {
  VmTransition t{Kind::kStopped, now};
  t.reason = std::move(reason);
  return t;
}

VmTransition VmTransition::Fail(absl::Time now, FailureKind kind, std::string reason) {
  VmTransition t{Kind::kFail, now};
  t.failure = kind;
  t.reason = std::move(reason);
  return t;
}

absl::StatusOr<Vm> Apply(const Vm& vm, const VmTransition& t) {
  using K = VmTransition::Kind;
  if (!Legal(vm.state, t.kind)) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cannot ", KindName(t.kind), " VM ", vm.spec.name, ": it is ", VmStateName(vm.state)));
  }
  Vm next = vm;
  switch (t.kind) {
    case K::kCreated:
      next.state = VmState::kStopped;
      break;
    case K::kBoot:
      next.state = VmState::kBooting;
      next.failure = FailureKind::kNone;
      next.reason.clear();
      next.pid = 0;
      next.pid_start_time = 0;
      next.net_slot = t.net_slot;
      next.start_time = t.now;
      next.ready_time = absl::InfinitePast();
      break;
    case K::kLaunched:
      next.pid = t.pid;
      next.pid_start_time = t.pid_start_time;
      next.cgroup_id = t.cgroup_id;
      break;
    case K::kReady:
      next.state = VmState::kRunning;
      next.ready_time = t.now;
      next.agent_version = t.agent_version;
      break;
    case K::kStop:
      next.state = VmState::kStopping;
      break;
    case K::kStopped:
      next.state = VmState::kStopped;
      next.failure = FailureKind::kNone;
      next.reason = ToSafeText(t.reason, kMaxReasonBytes);
      Detach(next, t.now);
      break;
    case K::kFail:
      next.state = VmState::kFailed;
      next.failure = t.failure;
      next.reason = ToSafeText(t.reason, kMaxReasonBytes);  // it may quote the guest's console
      Detach(next, t.now);
      break;
  }
  return next;
}

}  // namespace clawos::launcher
