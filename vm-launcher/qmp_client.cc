#include "vm-launcher/qmp_client.h"

#include <poll.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/status.h"
#include "common/unix_socket.h"

namespace clawos::launcher {

absl::StatusOr<QmpClient> QmpClient::Connect(const std::string& path, absl::Duration timeout) {
  absl::Time deadline = absl::Now() + timeout;
  int fd = -1;
  while (true) {
    auto connected = ConnectUnixSocket(path);
    if (connected.ok()) {
      fd = *connected;
      break;
    }
    if (connected.status().code() == absl::StatusCode::kInvalidArgument) return connected.status();
    if (absl::Now() > deadline) {
      return absl::UnavailableError(absl::StrCat("cannot connect to QMP at ", path));
    }
    absl::SleepFor(absl::Milliseconds(5));
  }
  QmpClient c(fd);
  ASSIGN_OR_RETURN(nlohmann::json greeting, c.ReadMessage(deadline));
  if (!greeting.contains("QMP")) {
    return absl::InternalError(absl::StrCat("unexpected QMP greeting: ", greeting.dump()));
  }
  RETURN_IF_ERROR(c.Execute("qmp_capabilities").status());
  return c;
}

QmpClient::~QmpClient() {
  if (fd_ >= 0) close(fd_);
}

absl::StatusOr<nlohmann::json> QmpClient::ReadMessage(absl::Time deadline) {
  while (true) {
    size_t nl = buffer_.find('\n');
    if (nl != std::string::npos) {
      std::string line = buffer_.substr(0, nl);
      buffer_.erase(0, nl + 1);
      auto j = nlohmann::json::parse(line, nullptr, false);
      if (j.is_discarded())
        return absl::InternalError(absl::StrCat("QMP sent invalid JSON: ", line));
      return j;
    }
    int left = static_cast<int>(absl::ToInt64Milliseconds(deadline - absl::Now()));
    if (left <= 0) return absl::DeadlineExceededError("QMP did not answer in time");
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, left) <= 0) continue;
    char buf[4096];
    ssize_t n = read(fd_, buf, sizeof(buf));
    if (n <= 0) return absl::UnavailableError("QMP connection closed (QEMU exited?)");
    buffer_.append(buf, static_cast<size_t>(n));
  }
}

absl::StatusOr<nlohmann::json> QmpClient::Execute(const std::string& command,
                                                  const nlohmann::json& arguments,
                                                  absl::Duration timeout) {
  nlohmann::json req = {{"execute", command}};
  if (!arguments.is_null()) req["arguments"] = arguments;
  std::string line = req.dump() + "\n";
  if (write(fd_, line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
    return absl::UnavailableError("writing to QMP failed");
  }
  return AwaitReturn(command, absl::Now() + timeout);
}

absl::StatusOr<nlohmann::json> QmpClient::AwaitReturn(const std::string& command,
                                                      absl::Time deadline) {
  while (true) {
    ASSIGN_OR_RETURN(nlohmann::json msg, ReadMessage(deadline));
    if (msg.contains("event")) {
      events_.push_back(std::move(msg));
      continue;
    }
    if (msg.contains("return")) return msg["return"];
    if (msg.contains("error")) {
      return absl::FailedPreconditionError(absl::StrCat("QMP ", command, ": ",
                                                        msg["error"].value("class", "Error"), ": ",
                                                        msg["error"].value("desc", "")));
    }
  }
}

absl::Status QmpClient::SendFd(const std::string& name, int fd) {
  std::string line = nlohmann::json{{"execute", "getfd"}, {"arguments", {{"fdname", name}}}}.dump();
  line += "\n";
  iovec iov{line.data(), line.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))] = {};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof(control);
  cmsghdr* c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  std::memcpy(CMSG_DATA(c), &fd, sizeof(int));
  if (::sendmsg(fd_, &msg, MSG_NOSIGNAL) != static_cast<ssize_t>(line.size())) {
    return absl::UnavailableError("handing a descriptor to QEMU failed");
  }
  return AwaitReturn("getfd", absl::Now() + absl::Seconds(10)).status();
}

absl::StatusOr<std::string> QmpClient::Status() {
  ASSIGN_OR_RETURN(nlohmann::json r, Execute("query-status"));
  return r.value("status", "unknown");
}

}  // namespace clawos::launcher
