#include "vm-launcher/jail/jail_spec.h"

#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace clawos::jail {
namespace {

bool IsCleanAbsolute(const std::string& p) {
  if (p.empty() || p[0] != '/' || p.find('\0') != std::string::npos) return false;
  for (size_t i = 0; i <= p.size();) {  // no "." or ".." components
    size_t j = p.find('/', i + 1);
    if (j == std::string::npos) j = p.size();
    std::string part = p.substr(i + 1, j - i - 1);
    if (part == "." || part == "..") return false;
    i = j;
    if (j == p.size()) break;
  }
  return true;
}

absl::Status Bad(const std::string& what) {
  return absl::InvalidArgumentError(absl::StrCat("jail spec: ", what));
}

}  // namespace

absl::Status ValidateJailSpec(const JailSpec& s) {
  if (!IsCleanAbsolute(s.root) || s.root == "/") {
    return Bad("--root must be an absolute directory other than /");
  }
  if (s.uid == 0 || s.gid == 0) return Bad("--uid and --gid must not be 0");
  std::set<std::string> targets;
  for (const JailMount& m : s.mounts) {
    if (!IsCleanAbsolute(m.source)) return Bad(absl::StrCat("bad mount source ", m.source));
    if (!IsCleanAbsolute(m.target) || m.target == "/" || m.target.rfind("/proc", 0) == 0) {
      return Bad(absl::StrCat("bad mount target ", m.target, " (absolute, not / or /proc)"));
    }
    if (!targets.insert(m.target).second) return Bad(absl::StrCat("two mounts on ", m.target));
  }
  if (!s.netns.empty() && !IsCleanAbsolute(s.netns)) return Bad("--netns must be absolute");
  if (s.nofile < 16 || s.nproc < 1) return Bad("--nofile must be at least 16, --nproc at least 1");
  if (s.hostname.empty() || s.hostname.size() > 64) return Bad("--hostname must be 1-64 bytes");
  for (int fd : s.keep_fds) {
    if (fd < 3) return Bad("--keep-fd must be 3 or more");
  }
  for (const std::string& e : s.env) {
    if (e.find('=') == std::string::npos) return Bad(absl::StrCat("--env ", e, " is not K=V"));
  }
  if (s.argv.empty() || !IsCleanAbsolute(s.argv[0])) {
    return Bad("the program (after --) must be an absolute path inside the jail");
  }
  return absl::OkStatus();
}

std::vector<std::string> JailArgs(const JailSpec& s) {
  std::vector<std::string> a = {"--root",           s.root, "--uid", absl::StrCat(s.uid), "--gid",
                                absl::StrCat(s.gid)};
  for (const JailMount& m : s.mounts) {
    std::string kind = m.device ? "--dev" : m.exec ? "--exec" : m.writable ? "--rw" : "--ro";
    a.insert(a.end(), {kind, m.source, m.target});
  }
  if (!s.netns.empty()) a.insert(a.end(), {"--netns", s.netns});
  a.insert(a.end(), {"--nofile", absl::StrCat(s.nofile), "--nproc", absl::StrCat(s.nproc),
                     "--hostname", s.hostname});
  if (!s.landlock) a.push_back("--no-landlock");
  if (!s.pid_file.empty()) a.insert(a.end(), {"--pid-file", s.pid_file});
  for (int fd : s.keep_fds) a.insert(a.end(), {"--keep-fd", absl::StrCat(fd)});
  for (const std::string& e : s.env) a.insert(a.end(), {"--env", e});
  a.push_back("--");
  a.insert(a.end(), s.argv.begin(), s.argv.end());
  return a;
}

absl::StatusOr<JailSpec> ParseJailArgs(const std::vector<std::string>& args) {
  JailSpec s;
  size_t i = 0;
  auto value = [&](const std::string& flag) -> absl::StatusOr<std::string> {
    if (i + 1 >= args.size()) return Bad(absl::StrCat(flag, " needs a value"));
    return args[++i];
  };
  auto number = [&](const std::string& flag, uint64_t max) -> absl::StatusOr<uint64_t> {
    auto v = value(flag);
    if (!v.ok()) return v.status();
    uint64_t n = 0;
    if (!absl::SimpleAtoi(*v, &n) || n > max) return Bad(absl::StrCat(flag, " ", *v));
    return n;
  };
  for (; i < args.size(); ++i) {
    const std::string& f = args[i];
    if (f == "--") {
      s.argv.assign(args.begin() + static_cast<std::ptrdiff_t>(i) + 1, args.end());
      break;
    }
    if (f == "--root") {
      auto v = value(f);
      if (!v.ok()) return v.status();
      s.root = *v;
    } else if (f == "--uid" || f == "--gid") {
      auto n = number(f, 0xfffffffeu);
      if (!n.ok()) return n.status();
      (f == "--uid" ? s.uid : s.gid) = static_cast<uint32_t>(*n);
    } else if (f == "--ro" || f == "--rw" || f == "--exec" || f == "--dev") {
      if (i + 2 >= args.size()) return Bad(absl::StrCat(f, " needs SOURCE and TARGET"));
      JailMount m{args[i + 1], args[i + 2], f == "--rw" || f == "--dev", f == "--exec",
                  f == "--dev"};
      s.mounts.push_back(m);
      i += 2;
    } else if (f == "--nofile" || f == "--nproc") {
      auto n = number(f, 1 << 20);
      if (!n.ok()) return n.status();
      (f == "--nofile" ? s.nofile : s.nproc) = *n;
    } else if (f == "--keep-fd") {
      auto n = number(f, 1 << 20);
      if (!n.ok()) return n.status();
      s.keep_fds.push_back(static_cast<int>(*n));
    } else if (f == "--netns" || f == "--hostname" || f == "--pid-file" || f == "--env") {
      auto v = value(f);
      if (!v.ok()) return v.status();
      if (f == "--netns") s.netns = *v;
      if (f == "--hostname") s.hostname = *v;
      if (f == "--pid-file") s.pid_file = *v;
      if (f == "--env") s.env.push_back(*v);
    } else if (f == "--no-landlock") {
      s.landlock = false;
    } else {
      return Bad(absl::StrCat("unknown flag ", f));
    }
  }
  if (auto v = ValidateJailSpec(s); !v.ok()) return v;
  return s;
}

}  // namespace clawos::jail
