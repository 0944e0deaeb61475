#include "agent/files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <thread>

#include "agent/system.h"
#include "agent/util.h"

namespace clawos::agent {
namespace {

int CodeOf(int err) {
  switch (err) {
    case ENOENT:
    case ENOTDIR:
      return kNotFound;
    case EEXIST:
      return kAlreadyExists;
    case EACCES:
    case EPERM:
    case EROFS:
      return kPermissionDenied;
    case ENOSPC:
    case EDQUOT:
      return kResourceExhausted;
    case EISDIR:
    case EINVAL:
    case ENAMETOOLONG:
      return kInvalidArgument;
    default:
      return kInternal;
  }
}

void FillInfo(const std::string& path, const struct stat& st, pb::FileInfo* info) {
  info->set_path(path);
  info->set_size_bytes(static_cast<uint64_t>(st.st_size));
  info->set_mode(st.st_mode & 07777);
  info->mutable_modify_time()->set_seconds(st.st_mtim.tv_sec);
  info->mutable_modify_time()->set_nanos(static_cast<int32_t>(st.st_mtim.tv_nsec));
}

}  // namespace

std::unique_ptr<FilePutSession> FilePutSession::Begin(uint64_t stream, const pb::FilePut& put,
                                                      Sender& out) {
  std::unique_ptr<FilePutSession> s(new FilePutSession(stream, put, out));
  const std::string& path = put.path();
  if (!ValidPath(path)) {
    s->Fail(kInvalidArgument, "path must be absolute and name a file: \"" + path + "\"");
    return nullptr;
  }
  struct stat st {};
  if (::lstat(path.c_str(), &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      s->Fail(kInvalidArgument, path + " exists and is not a regular file");
      return nullptr;
    }
    if (!put.overwrite()) {
      s->Fail(kAlreadyExists, path + " exists (overwrite not asked for)");
      return nullptr;
    }
  }
  if (put.create_parents() && !MakeParents(Parent(path))) {
    s->Fail(CodeOf(errno), "creating " + Parent(path) + ": " + std::strerror(errno));
    return nullptr;
  }
  s->temp_ = Parent(path) + (Parent(path) == "/" ? "" : "/") + ".clawos-put-" +
             std::to_string(stream) + "-" + std::to_string(::getpid());
  mode_t mode = put.mode() == 0 ? 0644 : (put.mode() & 07777);
  s->fd_ = ::open(s->temp_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
  if (s->fd_ < 0) {
    int e = errno;
    s->temp_.clear();
    s->Fail(CodeOf(e), "creating a file in " + Parent(path) + ": " + std::strerror(e));
    return nullptr;
  }
  ::fchmod(s->fd_, mode);  // the umask does not apply
  return s;
}

FilePutSession::~FilePutSession() {
  if (fd_ >= 0) ::close(fd_);
  if (!temp_.empty()) ::unlink(temp_.c_str());  // cancelled or failed: leave nothing
}

bool FilePutSession::Fail(int code, const std::string& message) {
  out_.Send(ErrorFrame(stream_, code, message));
  return false;
}

bool FilePutSession::Write(const pb::Chunk& chunk) {
  const std::string& d = chunk.data();
  size_t off = 0;
  while (off < d.size()) {
    ssize_t n = ::write(fd_, d.data() + off, d.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      return Fail(CodeOf(e), "writing " + put_.path() + ": " + std::strerror(e));
    }
    off += static_cast<size_t>(n);
  }
  return chunk.eof() ? Finish() : true;
}

bool FilePutSession::Finish() {
  if (::fsync(fd_) != 0) {
    int e = errno;
    return Fail(CodeOf(e), "writing " + put_.path() + ": " + std::strerror(e));
  }
  ::close(fd_);
  fd_ = -1;
  std::string hex;
  if (!FileSha256(temp_, &hex)) return Fail(kInternal, "cannot read back " + put_.path());
  if (!put_.sha256().empty() && put_.sha256() != hex) {
    return Fail(kDataLoss, "content of " + put_.path() + " has SHA-256 " + hex + ", expected " +
                               put_.sha256() + "; nothing written");
  }
  if (!put_.overwrite() && ::access(put_.path().c_str(), F_OK) == 0) {
    return Fail(kAlreadyExists, put_.path() + " appeared meanwhile (overwrite not asked for)");
  }
  if (::rename(temp_.c_str(), put_.path().c_str()) != 0) {
    int e = errno;
    return Fail(CodeOf(e), "renaming into " + put_.path() + ": " + std::strerror(e));
  }
  temp_.clear();
  struct stat st {};
  ::stat(put_.path().c_str(), &st);
  pb::Frame f;
  f.set_stream_id(stream_);
  FillInfo(put_.path(), st, f.mutable_file_info());
  f.mutable_file_info()->set_sha256(hex);
  out_.Send(f);
  return false;
}

void StartFileGet(uint64_t stream, const pb::FileGet& get, Sender& out,
                  std::shared_ptr<std::atomic<bool>> cancelled) {
  std::string path = get.path();
  std::thread([stream, path, &out, cancelled] {
    if (!ValidPath(path)) {
      out.Send(ErrorFrame(stream, kInvalidArgument, "path must be absolute: \"" + path + "\""));
      return;
    }
    // O_NONBLOCK: a FIFO must not block the open; regular files ignore it.
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    struct stat st {};
    if (fd < 0 || ::fstat(fd, &st) != 0) {
      int e = errno;
      out.Send(ErrorFrame(stream, CodeOf(e), path + ": " + std::strerror(e)));
      if (fd >= 0) ::close(fd);
      return;
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      out.Send(ErrorFrame(stream, kInvalidArgument, path + " is not a regular file"));
      return;
    }
    pb::Frame f;
    f.set_stream_id(stream);
    FillInfo(path, st, f.mutable_file_info());
    out.Send(f);
    std::string buf(kMaxChunkBytes, '\0');
    for (;;) {
      if (*cancelled) break;
      ssize_t n = ::read(fd, buf.data(), buf.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) {
        int e = errno;
        out.Send(ErrorFrame(stream, kInternal, "reading " + path + ": " + std::strerror(e)));
        break;
      }
      pb::Frame d;
      d.set_stream_id(stream);
      d.mutable_file_data()->set_data(buf.data(), static_cast<size_t>(n));
      d.mutable_file_data()->set_eof(n == 0);
      if (!out.Send(d) || n == 0) break;
    }
    ::close(fd);
  }).detach();
}

}  // namespace clawos::agent
