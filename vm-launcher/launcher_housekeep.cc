// Launcher: housekeeping. Every half second each running VM's console is
// pumped into its log, a VMM that died is noticed (the VM FAILED with the
// console's end), an idle VM is stopped and the agent's health is checked
// without ever waiting for a guest.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/files.h"
#include "common/log.h"
#include "common/utf8.h"
#include "vm-launcher/launcher.h"

namespace clawos::launcher {

std::string Launcher::PumpedConsoleTail(const std::string& name, const Vmm& vmm) {
  constexpr size_t kTail = 600;
  auto log = Logs(name);
  if (!log.ok()) {  // the guest wrote it: safe text only
    auto tail = ReadFileTail(vmm.ConsoleLog(), kTail);
    return tail.ok() ? ToSafeText(*tail, kTail) : "";
  }
  (*log)->PumpConsole(vmm.ConsoleLog());
  return (*log)->ConsoleTail(kTail);
}

void Launcher::Housekeep() {
  std::vector<std::string> names;
  {
    std::lock_guard lock(mu_);
    for (auto& [name, rt] : running_) names.push_back(name);
  }
  for (const std::string& name : names) HousekeepVm(name);
}

void Launcher::HousekeepVm(const std::string& name) {
  bool alive = true, idle = false;
  std::shared_ptr<Vmm> vmm;
  {
    std::lock_guard lock(mu_);
    auto it = running_.find(name);
    if (it == running_.end()) return;
    Runtime& rt = it->second;
    vmm = rt.vmm;
    alive = rt.vmm->Running();
    idle = config_.idle_timeout > absl::ZeroDuration() &&
           clock_.Now() - rt.last_activity >= config_.idle_timeout;
  }
  if (alive) {
    if (auto log = Logs(name); log.ok()) (*log)->PumpConsole(vmm->ConsoleLog());
  } else {  // the VMM died without being asked to
    std::string tail = PumpedConsoleTail(name, *vmm);
    std::unique_lock lock(mu_);
    auto it = running_.find(name);
    if (it == running_.end()) return;
    running_.erase(it);
    int slot = store_->Get(name).value_or(Vm{}).net_slot;
    lock.unlock();
    CleanUp(name, slot);
    lock.lock();
    if (auto vm = store_->Get(name); vm.ok() && vm->state == VmState::kRunning) {
      Fail(*vm, FailureKind::kVmmExited,
           absl::UnavailableError(absl::StrCat("the VMM exited without a stop being asked for; "
                                               "console:\n",
                                               tail)))
          .IgnoreError();
    }
    return;
  }
  if (idle) {
    log::Info("stopping idle vm",
              {{"vm", name}, {"idle_timeout", absl::FormatDuration(config_.idle_timeout)}});
    StopVm(name).IgnoreError();
    return;
  }
  CheckHealth(name);
}

void Launcher::CheckHealth(const std::string& name) {
  const absl::Duration wait =
      std::clamp(config_.health_interval, absl::Seconds(1), absl::Seconds(10));
  std::shared_ptr<AgentClient> agent;
  uint64_t nonce = 0;
  bool missed = false, answered = false;
  {
    std::lock_guard lock(mu_);
    auto it = running_.find(name);
    if (it == running_.end() || !it->second.agent) return;
    Runtime& rt = it->second;
    agent = rt.agent;
    const absl::Time now = clock_.Now();
    if (rt.ping_nonce != 0) {  // one is out: answered, late, or still in time
      answered = agent->TakePong(rt.ping_nonce).has_value();
      missed = !answered && now - rt.last_ping >= wait;
      if (missed) agent->ForgetPing(rt.ping_nonce);
      if (answered || missed) rt.ping_nonce = 0;
      if (answered) rt.missed_pings = 0;
      if (missed) ++rt.missed_pings;
    } else if (now - rt.last_ping >= config_.health_interval) {
      rt.last_ping = now;
      nonce = 1;  // send below, outside the lock
    }
  }
  if (nonce != 0) {
    auto sent = agent->SendPing();
    std::lock_guard lock(mu_);
    auto it = running_.find(name);
    if (it == running_.end()) return;
    if (sent.ok()) {
      it->second.ping_nonce = *sent;
    } else {
      missed = true;  // the channel is closed or the guest does not read it
      ++it->second.missed_pings;
    }
  }
  if (!missed) return;
  {
    std::lock_guard lock(mu_);
    auto it = running_.find(name);
    if (it == running_.end() || it->second.missed_pings < 3) return;
  }
  log::Warn("agent unresponsive: stopping the vm", {{"vm", name}});
  StopVm(name, absl::ZeroDuration(), true).IgnoreError();
  if (auto vm = store_->Get(name); vm.ok()) {
    std::lock_guard relock(mu_);
    Fail(*vm, FailureKind::kAgentUnresponsive,
         absl::UnavailableError("the guest agent missed three health pings"))
        .IgnoreError();
  }
}

void Launcher::HousekeepLoop() {
  while (!quit_) {
    Housekeep();
    for (int i = 0; i < 5 && !quit_; ++i) absl::SleepFor(absl::Milliseconds(100));
  }
}

}  // namespace clawos::launcher
