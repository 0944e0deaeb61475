// Filesystem helpers with the project's secret-file rules: secrets live in
// files of mode 0600 inside directories of mode 0700.
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace clawos {

// An absl::Status for an errno value: ENOENT → NOT_FOUND, EACCES → PERMISSION_DENIED,
// ENOSPC → RESOURCE_EXHAUSTED, ... with "context: strerror".
absl::Status ErrnoStatus(int err, std::string_view context);

// Creates `path` (and parents) if absent with mode 0700; fails if it exists
// and is group/other accessible or is not a directory.
absl::Status EnsurePrivateDir(const std::string& path);
// Creates a directory tree (mode 0755 for parents) if absent.
absl::Status MakeDirs(const std::string& path, mode_t mode = 0755);

// The most ReadFile reads unless told otherwise.
inline constexpr size_t kMaxReadFileBytes = 64 << 20;
// The whole file, or OUT_OF_RANGE ("<path> is over <max_bytes> bytes") once
// more than `max_bytes` come: a path that is a link to /dev/zero or a huge
// file costs at most that much memory. Pass a small bound for small files.
absl::StatusOr<std::string> ReadFile(const std::string& path, size_t max_bytes = kMaxReadFileBytes);
// The last `max_bytes` of a regular file (all of a shorter one); of anything
// else, the first `max_bytes`.
absl::StatusOr<std::string> ReadFileTail(const std::string& path, size_t max_bytes);
// Writes via a temp file in the same directory, fsync, rename, fsync(dir).
absl::Status WriteFileAtomic(const std::string& path, std::string_view contents, mode_t mode);
// Fails with FAILED_PRECONDITION if `path` is readable or writable by group/other.
absl::Status CheckPrivateFile(const std::string& path);
bool PathExists(const std::string& path);

// An exclusive advisory lock (flock) on a file, held until destruction. Used
// so that one state directory has one owner process.
class FileLock {
 public:
  // FAILED_PRECONDITION naming the holder's pid when another process holds it.
  static absl::StatusOr<FileLock> Acquire(const std::string& path);
  FileLock(FileLock&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  FileLock& operator=(FileLock&&) = delete;
  FileLock(const FileLock&) = delete;
  ~FileLock();

 private:
  explicit FileLock(int fd) : fd_(fd) {}
  int fd_;
};

}  // namespace clawos
