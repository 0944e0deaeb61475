// Receiving a file out of a guest (`clawos vm cp NAME:/path DEST`). The
// guest is not trusted: it states the file's size and mode in a header, then
// sends the bytes. GuestFileWriter holds none of it in memory, refuses more
// or fewer bytes than the header declared, and leaves DEST as it was unless
// the whole file arrived: it writes a temporary file beside DEST (created
// O_EXCL, mode 0600), fsyncs it, gives it a masked mode and only then renames
// it into place. The copy's mode never carries setuid, setgid, sticky or
// world-writable bits, and the process umask applies (CopiedMode). The local
// name is the user's (DEST, or DEST/<base name of the guest path the user
// typed>), never a name the guest sent.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace clawos::cli {

// The mode of a file copied out of a guest whose header said `guest_mode`:
// its permission bits without setuid/setgid/sticky (07000) and without
// world-write (0002), then `umask` applied, as `cp` without `-p` does. The
// owner's bits, exec included, are the guest's.
mode_t CopiedMode(uint32_t guest_mode, mode_t umask);
// This process's umask (read without changing it for long).
mode_t ProcessUmask();

// Where `vm cp NAME:guest_path dest` writes: `dest`, or when `dest` is a
// directory, dest/<base name of guest_path>. INVALID_ARGUMENT for a base name
// that is empty, "." or "..", or that holds a NUL.
absl::StatusOr<std::string> CopyTarget(const std::string& dest, const std::string& guest_path);

class GuestFileWriter {
 public:
  // Writes into `target` (a temporary file beside it until Finish). Fails at
  // once when the directory is not writable.
  static absl::StatusOr<std::unique_ptr<GuestFileWriter>> ToFile(const std::string& target);
  // Writes straight to `fd` (stdout for `-`): nothing to undo there, so a
  // short or long file is reported as an error after what was written.
  static std::unique_ptr<GuestFileWriter> ToFd(int fd);
  ~GuestFileWriter();  // removes the temporary file unless Finish succeeded
  GuestFileWriter(const GuestFileWriter&) = delete;
  GuestFileWriter& operator=(const GuestFileWriter&) = delete;

  // The header: exactly once, before any data. INVALID_ARGUMENT for a
  // negative size or a second header.
  absl::Status Header(int64_t size_bytes, uint32_t mode);
  // A piece of the content. DATA_LOSS past the declared size (the caller
  // should stop the transfer), INVALID_ARGUMENT before the header.
  absl::Status Data(std::string_view piece);
  // The sender said it is done: DATA_LOSS unless exactly the declared size
  // arrived; then fsync, chmod, rename into place and fsync the directory.
  absl::Status Finish();

  int64_t received() const { return received_; }
  const std::string& target() const { return target_; }

 private:
  GuestFileWriter(int fd, bool owned, std::string target, std::string temp)
      : fd_(fd), owned_(owned), target_(std::move(target)), temp_(std::move(temp)) {}
  absl::Status WriteAll(std::string_view piece);
  // How a refusal ends: "; <target> left as it was", or nothing for ToFd.
  std::string Undone() const;

  int fd_;
  bool owned_;          // fd_ is the temporary file's
  std::string target_;  // empty for ToFd
  std::string temp_;    // empty once renamed (or for ToFd)
  int64_t declared_ = -1;
  int64_t received_ = 0;
  uint32_t mode_ = 0;
};

}  // namespace clawos::cli
