// Undo steps of a sequence that may fail half-way (a VM's start): each step
// that succeeded pushes its undo; on failure they run newest first, and on
// success Commit() drops them. They also run when the Rollback goes out of
// scope uncommitted, so an early return leaves nothing behind.
#pragma once

#include <functional>
#include <utility>
#include <vector>

namespace clawos::launcher {

class Rollback {
 public:
  Rollback() = default;
  Rollback(const Rollback&) = delete;
  Rollback& operator=(const Rollback&) = delete;
  ~Rollback() { Run(); }

  void Push(std::function<void()> undo) { undo_.push_back(std::move(undo)); }
  // Runs every undo pushed so far, newest first, once.
  void Run() {
    while (!undo_.empty()) {
      std::function<void()> f = std::move(undo_.back());
      undo_.pop_back();
      f();
    }
  }
  void Commit() { undo_.clear(); }

 private:
  std::vector<std::function<void()>> undo_;
};

}  // namespace clawos::launcher
