#include "image/cpio.h"

#include <sys/stat.h>

#include <cstdio>

namespace clawos::image {
namespace {

void Hex8(std::string& out, uint64_t v) {
  char buf[9];
  std::snprintf(buf, sizeof(buf), "%08llx", static_cast<unsigned long long>(v & 0xffffffffu));
  out.append(buf, 8);
}

void Pad4(std::string& out) {
  while (out.size() % 4 != 0) out.push_back('\0');
}

void Header(std::string& out, uint32_t ino, uint32_t mode, uint32_t nlink, int64_t mtime,
            size_t filesize, const std::string& name, uint32_t rmajor = 0, uint32_t rminor = 0) {
  out += "070701";
  Hex8(out, ino);
  Hex8(out, mode);
  Hex8(out, 0);  // uid
  Hex8(out, 0);  // gid
  Hex8(out, nlink);
  Hex8(out, static_cast<uint64_t>(mtime));
  Hex8(out, filesize);
  Hex8(out, 0);  // dev major
  Hex8(out, 0);  // dev minor
  Hex8(out, rmajor);
  Hex8(out, rminor);
  Hex8(out, name.size() + 1);
  Hex8(out, 0);  // check
  out += name;
  out.push_back('\0');
  Pad4(out);
}

}  // namespace

void CpioArchive::AddParents(const std::string& path) {
  for (size_t pos = path.find('/'); pos != std::string::npos; pos = path.find('/', pos + 1)) {
    std::string parent = path.substr(0, pos);
    if (!parent.empty() && !entries_.count(parent)) entries_[parent] = {S_IFDIR | 0755, ""};
  }
}

void CpioArchive::AddDirectory(const std::string& path, uint32_t mode) {
  AddParents(path);
  entries_[path] = {S_IFDIR | (mode & 07777), ""};
}

void CpioArchive::AddFile(const std::string& path, std::string contents, uint32_t mode) {
  AddParents(path);
  entries_[path] = {S_IFREG | (mode & 07777), std::move(contents)};
}

void CpioArchive::AddSymlink(const std::string& path, const std::string& target) {
  AddParents(path);
  entries_[path] = {S_IFLNK | 0777, target};
}

void CpioArchive::AddCharDevice(const std::string& path, uint32_t major, uint32_t minor,
                                uint32_t mode) {
  AddParents(path);
  entries_[path] = {S_IFCHR | (mode & 07777), "", major, minor};
}

std::string CpioArchive::Serialize() const {
  std::string out;
  uint32_t ino = 1;
  for (const auto& [path, e] : entries_) {  // std::map: sorted, parents first
    Header(out, ino++, e.mode, S_ISDIR(e.mode) ? 2 : 1, mtime_, e.data.size(), path, e.rdev_major,
           e.rdev_minor);
    out += e.data;
    Pad4(out);
  }
  Header(out, 0, 0, 1, 0, 0, "TRAILER!!!");
  return out;
}

}  // namespace clawos::image
