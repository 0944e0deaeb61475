// clawos-agent, the in-guest agent. Started as PID 1 by the image's
// /sbin/init. It finds the "clawos.agent" virtio-serial port, reads the
// image's release file (so a tampered root fails here, visibly, and the VM
// powers off), then serves the host over clawos.agent.v1 frames.
#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "agent/agent.h"
#include "agent/agent_loop.h"
#include "agent/channel.h"
#include "agent/system.h"

int main(int argc, char** argv) {
  using namespace clawos::agent;
  // `clawos-agent run ...`: the agent loop for prompt steps (agent_loop.h).
  if (argc > 1 && std::strcmp(argv[1], "run") == 0) return RunAgentCommand(argc, argv);
  signal(SIGPIPE, SIG_IGN);
  std::string port;
  for (int i = 0; i < 500 && port.empty(); ++i) {
    port = FindPort(kPortName);
    if (port.empty()) usleep(10 * 1000);
  }
  if (port.empty()) {
    Console("FATAL: no virtio-serial port named clawos.agent; powering off");
    PowerOff();
  }
  int fd = -1;
  for (int i = 0; i < 500 && fd < 0; ++i) {  // the device node may lag the sysfs entry
    fd = open(port.c_str(), O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) usleep(10 * 1000);
  }
  if (fd < 0) {
    Console("FATAL: cannot open " + port + ": " + std::strerror(errno) + "; powering off");
    PowerOff();
  }
  std::string release;
  if (!ReadFirstLine("/etc/clawos/release", &release)) {
    Console("FATAL: " + release + "; powering off");
    PowerOff();
  }
  Console("ready on " + port + " (" + release + ")");
  Agent(fd, release).Run();
}
