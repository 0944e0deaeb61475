#include "cli/stack_commands.h"

#include <unistd.h>

#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "cli/doctor.h"
#include "cli/stack.h"

namespace clawos::cli {
namespace {

void AddStackFlags(CLI::App* c, StackOptions* o) {
  c->add_option("--state-dir", o->state_dir, "The stack's one state directory")
      ->envname("CLAWOS_STATE_DIR")
      ->capture_default_str();
  c->add_option("--port-offset", o->port_offset,
                "Added to every TCP port of the stack (a second stack beside the default one)")
      ->envname("CLAWOS_PORT_OFFSET")
      ->check(CLI::Range(0, 30000))
      ->capture_default_str();
  c->add_option("--image-dir", o->image_dir,
                "A built and signed guest image to use (default: <state>/images/agent, built "
                "when missing)")
      ->envname("CLAWOS_IMAGE_DIR");
  c->add_option("--signing-pubkey", o->signing_pubkey, "The public key that signed --image-dir")
      ->envname("CLAWOS_SIGNING_PUBKEY");
  c->add_flag("--no-nginx{false}", o->nginx, "Do not start nginx even when it is installed");
  c->add_flag("--no-monitor{false}", o->monitor, "Do not start the eBPF monitor");
}

const char* Level(Check::Level l) {
  switch (l) {
    case Check::kOk:
      return "OK  ";
    case Check::kWarn:
      return "WARN";
    case Check::kFail:
      return "FAIL";
  }
  return "?";
}

}  // namespace

void AddStackCommands(CLI::App& app, Context& ctx, int& rc) {
  auto o = std::make_shared<StackOptions>();

  auto* up = app.add_subcommand(
      "up",
      "Start the embedded default stack: image, identity, proxy, monitor, launcher, "
      "control plane, nginx (health-gated, in order; what runs is left running)");
  AddStackFlags(up, o.get());
  up->callback([o, &rc, &ctx] {
    if (geteuid() != 0) {
      std::cerr << "clawos up: needs root (VM cgroups, the eBPF monitor, " << o->state_dir << ")\n";
      rc = 1;
      return;
    }
    std::cout << "clawos up: " << o->state_dir << "\n";
    auto s = StackUp(*o, std::cout);
    if (!s.ok()) {
      rc = ReportError("up", s);
      return;
    }
    const StackPaths p = PathsFor(*o);
    std::cout << "\nThe stack is up. As root on this host the CLI finds the control plane and its "
                 "token by itself:\n"
              << "  clawos vm start demo && clawos vm exec demo -- uname -a\n"
              << absl::StrFormat(
                     "  control plane  http://127.0.0.1:%d  (token: %s/controlplane/admin.token)\n",
                     p.port(8080), p.state);
    bool nginx = false;
    for (const auto& st : StackStatus(*o)) nginx |= st.name == "nginx" && st.pid;
    if (nginx) {
      std::cout << absl::StrFormat("  https          https://localhost:%d  (CA: %s/clawos.crt)\n",
                                   p.port(8443), p.tls);
    }
    std::cout << "  logs           " << p.logs << "/\n  stop           clawos down\n";
    (void)ctx;
  });

  auto* down = app.add_subcommand("down", "Stop the stack's VMs and daemons (reverse order)");
  AddStackFlags(down, o.get());
  down->callback([o, &rc] {
    auto s = StackDown(*o, std::cout);
    if (!s.ok()) rc = ReportError("down", s);
  });

  auto* status = app.add_subcommand("status", "Which daemons of the stack run");
  AddStackFlags(status, o.get());
  status->callback([o, &rc, &ctx] {
    auto st = StackStatus(*o);
    if (ctx.json()) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& s : st)
        j.push_back({{"name", s.name}, {"pid", s.pid}, {"running", s.pid != 0}});
      PrintJson(j);
    } else {
      for (const auto& s : st) {
        std::cout << absl::StrFormat("%-16s %s\n", s.name,
                                     s.pid ? absl::StrCat("running (pid ", s.pid, ")") : "stopped");
      }
    }
    for (const auto& s : st) {
      if (!s.pid) rc = 3;  // not everything runs
    }
  });

  auto* doctor = app.add_subcommand(
      "doctor", "Check this host for ClawOS: each line OK, WARN or FAIL with the fix");
  AddStackFlags(doctor, o.get());
  doctor->callback([o, &rc, &ctx] {
    auto checks = RunChecks(*o);
    int fails = 0, warns = 0;
    if (ctx.json()) {
      nlohmann::json j = nlohmann::json::array();
      for (const auto& c : checks) {
        j.push_back(
            {{"level", std::string(Level(c.level)).substr(0, c.level == Check::kOk ? 2 : 4)},
             {"check", c.name},
             {"found", c.what},
             {"fix", c.fix}});
      }
      PrintJson(j);
    }
    for (const auto& c : checks) {
      fails += c.level == Check::kFail;
      warns += c.level == Check::kWarn;
      if (ctx.json()) continue;
      std::cout << absl::StrFormat("%s  %-16s %s\n", Level(c.level), c.name, c.what);
      if (!c.fix.empty() && c.level != Check::kOk) std::cout << "      fix: " << c.fix << "\n";
    }
    if (!ctx.json()) {
      std::cout << absl::StrFormat("\n%d checks: %d failed, %d warnings\n", checks.size(), fails,
                                   warns);
    }
    rc = fails ? 1 : 0;
  });
}

}  // namespace clawos::cli
