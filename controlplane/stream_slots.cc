#include "controlplane/stream_slots.h"

#include "absl/strings/str_cat.h"

namespace clawos::controlplane {

absl::Status ValidateStreamLimits(const StreamLimits& l, int max_connections) {
  if (l.max_streams_per_viewer < 1 || l.max_viewer_streams < l.max_streams_per_viewer ||
      l.max_streams < l.max_viewer_streams || l.max_streams >= max_connections) {
    return absl::InvalidArgumentError(absl::StrCat(
        "stream caps must satisfy 1 <= --max-streams-per-viewer (", l.max_streams_per_viewer,
        ") <= --max-viewer-streams (", l.max_viewer_streams, ") <= --max-streams (", l.max_streams,
        ") < the listener's ", max_connections, " connections"));
  }
  return absl::OkStatus();
}

StreamSlots::Slot& StreamSlots::Slot::operator=(Slot&& other) noexcept {
  if (this != &other) {
    Release();
    owner_ = other.owner_;
    viewer_ = other.viewer_;
    subject_ = std::move(other.subject_);
    other.owner_ = nullptr;
  }
  return *this;
}

void StreamSlots::Slot::Release() {
  if (owner_) owner_->Release(viewer_, subject_);
  owner_ = nullptr;
}

absl::StatusOr<StreamSlots::Slot> StreamSlots::Acquire(bool viewer, const std::string& subject) {
  std::lock_guard lock(mu_);
  auto full = [](const std::string& what, int cap, const char* flag) {
    return absl::ResourceExhaustedError(absl::StrCat("too many open streams ", what, " (", cap,
                                                     ", ", flag, "): close one or retry later"));
  };
  if (open_ >= limits_.max_streams) {
    return full("on the control plane", limits_.max_streams, "--max-streams");
  }
  if (viewer) {
    if (viewers_ >= limits_.max_viewer_streams) {
      return full("for viewers", limits_.max_viewer_streams, "--max-viewer-streams");
    }
    auto it = per_viewer_.find(subject);
    if (it != per_viewer_.end() && it->second >= limits_.max_streams_per_viewer) {
      return full("for " + subject.substr(0, 128), limits_.max_streams_per_viewer,
                  "--max-streams-per-viewer");
    }
    ++viewers_;
    ++per_viewer_[subject];
  }
  ++open_;
  return Slot(this, viewer, subject);
}

void StreamSlots::Release(bool viewer, const std::string& subject) {
  std::lock_guard lock(mu_);
  --open_;
  if (!viewer) return;
  --viewers_;
  auto it = per_viewer_.find(subject);
  if (it != per_viewer_.end() && --it->second <= 0) per_viewer_.erase(it);
}

int StreamSlots::open() const {
  std::lock_guard lock(mu_);
  return open_;
}

int StreamSlots::open_viewer() const {
  std::lock_guard lock(mu_);
  return viewers_;
}

}  // namespace clawos::controlplane
