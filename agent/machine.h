// What makes a guest a machine of its own, applied from the host's Welcome:
// its disks mounted, its hostname and machine id, fresh randomness in its
// kernel. And the other side of it: quiescing a guest that was never
// welcomed, so that it can become a template that many VMs are restored from
// (agent.proto, "Templates").
#pragma once

#include <string>

namespace clawos::agent {

// Mounts the runtime disk (virtio serial clawos-runtime) on /var — a 64 MiB
// tmpfs without one — and the workspace disk (clawos-workspace) on
// /workspace, each unless something is mounted there already. Blocks cached
// from the devices before (a template's boot-time probe) are dropped first.
// False with the reason when a disk that is present does not mount.
bool MountDisks(std::string* error);

// Sets the hostname and writes /run/machine-id (0444). Both are checked:
// hostname [a-z0-9][a-z0-9-]{0,62}, machine id 32 lower-case hex digits.
bool SetIdentity(const std::string& hostname, const std::string& machine_id, std::string* error);

// Adds `bytes` (at least 32) to the kernel's entropy pool, credited, and
// forces the CRNG to reseed (RNDADDENTROPY, RNDRESEEDCRNG).
bool AddEntropy(const std::string& bytes, std::string* error);

// Writes dirty data out and drops the page, dentry and inode caches.
bool DropCaches(std::string* error);

}  // namespace clawos::agent
