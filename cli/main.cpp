// clawos: the ClawOS command line.
#include <CLI/CLI.hpp>

#include "cli/completion.h"
#include "cli/context.h"
#include "cli/identity_commands.h"
#include "cli/image_commands.h"
#include "cli/monitor_commands.h"
#include "cli/proxy_commands.h"
#include "cli/stack_commands.h"
#include "cli/template_commands.h"
#include "cli/vm_commands.h"
#include "cli/workflow_commands.h"

int main(int argc, char** argv) {
  clawos::cli::Context ctx;
  int rc = 0;
  CLI::App app{"clawos: run AI agents in verified microVMs"};
  app.require_subcommand(1);
  app.fallthrough();  // global options (-o json, --direct) also after the subcommand
  app.add_option("--identity", ctx.identity_addr,
                 "clawos-identity address: unix:/path or host:port")
      ->envname("CLAWOS_IDENTITY_ADDR")
      ->capture_default_str();
  app.add_option("--launcher", ctx.launcher_addr,
                 "clawos-vm-launcher address: unix:/path or host:port")
      ->envname("CLAWOS_LAUNCHER_ADDR")
      ->capture_default_str();
  app.add_option("--proxy-admin", ctx.proxy_admin_addr, "clawos-inference-proxy's admin API")
      ->envname("CLAWOS_PROXY_ADMIN_ADDR")
      ->capture_default_str();
  app.add_option("--monitor", ctx.monitor_addr, "clawos-monitor address: unix:/path or host:port")
      ->envname("CLAWOS_MONITOR_ADDR")
      ->capture_default_str();
  app.add_option("--orchestrator", ctx.orchestrator_addr,
                 "clawos-orchestrator address (with --direct): unix:/path or host:port")
      ->envname("CLAWOS_ORCHESTRATOR_ADDR")
      ->capture_default_str();
  app.add_option("--url", ctx.url,
                 "clawos-controlplane's URL: `vm` and `image import|list` go through its REST API")
      ->envname("CLAWOS_URL")
      ->capture_default_str();
  app.add_option("--token-file", ctx.token_file,
                 "File with the operator token for --url (else CLAWOS_TOKEN, "
                 "~/.config/clawos/token (0600), /var/lib/clawos/controlplane/admin.token)")
      ->envname("CLAWOS_TOKEN_FILE");
  app.add_option("--cacert", ctx.ca_file,
                 "CA (PEM) to trust for an https:// --url instead of the system's")
      ->envname("CLAWOS_CA_FILE");
  app.add_flag("--direct", ctx.direct,
               "`vm`, `image` and `workflow`: gRPC straight to the daemon (--launcher, "
               "--orchestrator), not the control plane (CLAWOS_DIRECT=1)")
      ->envname("CLAWOS_DIRECT");
  app.add_option("-o,--output", ctx.output, "Output format: text or json")
      ->check(CLI::IsMember({"text", "json"}))
      ->capture_default_str();
  app.add_option("--tls-ca", ctx.tls.tls_ca_file, "CA for TLS to daemons on TCP")
      ->envname("CLAWOS_TLS_CA");
  app.add_option("--tls-cert", ctx.tls.tls_cert_file, "Client certificate (mTLS)")
      ->envname("CLAWOS_TLS_CERT");
  app.add_option("--tls-key", ctx.tls.tls_key_file, "Client key (mTLS)")->envname("CLAWOS_TLS_KEY");
  clawos::cli::AddTokenCommands(app, ctx, rc);
  clawos::cli::AddSecretCommands(app, ctx, rc);
  clawos::cli::AddImageCommands(app, ctx, rc);
  clawos::cli::AddImageLauncherCommands(*app.get_subcommand("image"), ctx, rc);
  clawos::cli::AddTemplateCommands(*app.get_subcommand("image"), ctx, rc);
  clawos::cli::AddVmCommands(app, ctx, rc);
  clawos::cli::AddWorkflowCommands(app, ctx, rc);
  clawos::cli::AddProxyCommands(app, ctx, rc);
  clawos::cli::AddMonitorCommands(app, ctx, rc);
  clawos::cli::AddStackCommands(app, ctx, rc);
  clawos::cli::AddCompletionCommand(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int code = app.exit(e);
    return code == 0 ? 0 : 2;
  }
  return rc;
}
