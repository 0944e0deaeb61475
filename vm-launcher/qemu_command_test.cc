#include "vm-launcher/qemu_command.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "common/files.h"
#include "common/testing/temp_dir.h"

namespace clawos::launcher {
namespace {

QemuConfig Good() {
  QemuConfig c;
  c.kernel = "/img/vmlinux";
  c.initrd = "/img/initramfs.cpio";
  c.cmdline = "console=ttyS0 clawos.root_hash=ab";
  c.console_log = "/run/vm/console.log";
  c.agent_socket = "/run/vm/agent.sock";
  c.qmp_socket = "/run/vm/qmp.sock";
  c.disks = {{"root", "/img/rootfs.img", "clawos-root", true},
             {"ws", "/vm/workspace.img", "clawos-workspace", false}};
  return c;
}

std::string Joined(const std::vector<std::string>& a) {
  std::string s;
  for (const auto& x : a) s += x + " ";
  return s;
}

TEST(QemuCommandTest, MicrovmWithDisksBySerialAgentPortAndQmp) {
  QemuConfig c = Good();
  ASSERT_TRUE(ValidateQemuConfig(c).ok());
  std::string a = Joined(QemuArgv(c));
  EXPECT_NE(a.find("-M microvm,x-option-roms=off,pit=on,pic=on,rtc=on "), std::string::npos);
  EXPECT_NE(a.find("-accel tcg,tb-size=32 "), std::string::npos);
  EXPECT_NE(a.find("-nodefaults "), std::string::npos);
  EXPECT_NE(a.find("-sandbox on,obsolete=deny,elevateprivileges=deny,spawn=deny,"
                   "resourcecontrol=deny "),
            std::string::npos);
  EXPECT_NE(a.find("id=root,file=/img/rootfs.img,format=raw,if=none,readonly=on "),
            std::string::npos);
  EXPECT_NE(a.find("virtio-blk-device,drive=ws,serial=clawos-workspace "), std::string::npos);
  EXPECT_EQ(a.find("id=ws,file=/vm/workspace.img,format=raw,if=none,readonly=on"),
            std::string::npos)
      << "the workspace disk is writable";
  EXPECT_NE(a.find("virtserialport,chardev=agent,name=clawos.agent"), std::string::npos);
  EXPECT_NE(a.find("-qmp unix:/run/vm/qmp.sock,server=on,wait=off "), std::string::npos);
  c.accel = "kvm";
  EXPECT_NE(Joined(QemuArgv(c)).find("-accel kvm "), std::string::npos);
}

TEST(QemuCommandTest, RejectsWhatWouldBreakTheCommandLine) {
  QemuConfig c = Good();
  c.disks[0].path = "/img/a,b.img";  // a comma would inject QEMU options
  EXPECT_FALSE(ValidateQemuConfig(c).ok());
  c = Good();
  c.disks[0].id = "Root!";
  EXPECT_FALSE(ValidateQemuConfig(c).ok());
  c = Good();
  c.memory_mib = 0;
  EXPECT_NE(ValidateQemuConfig(c).message().find("memory"), std::string::npos);
  c = Good();
  c.accel = "hvf";
  EXPECT_FALSE(ValidateQemuConfig(c).ok());
  c = Good();
  c.qmp_socket = "";
  EXPECT_FALSE(ValidateQemuConfig(c).ok());
}

TEST(QemuCommandTest, BridgeNicAndNetworkNamespace) {
  QemuConfig c = Good();
  EXPECT_EQ(Joined(QemuArgv(c)).find("-netdev"), std::string::npos) << "no NIC unless asked";
  c.tap = "clawtap3";
  c.mac = "52:54:00:00:00:03";
  c.netns = "clawos-test-1";
  ASSERT_TRUE(ValidateQemuConfig(c).ok());
  auto argv = QemuArgv(c);
  EXPECT_EQ(Joined({argv.begin(), argv.begin() + 5}),
            "ip netns exec clawos-test-1 qemu-system-x86_64 ");
  std::string a = Joined(argv);
  EXPECT_NE(a.find("-netdev tap,id=net0,ifname=clawtap3,script=no,downscript=no -device "
                   "virtio-net-device,netdev=net0,mac=52:54:00:00:00:03 "),
            std::string::npos)
      << a;
  c.tap = "tap,script=/x";
  EXPECT_FALSE(ValidateQemuConfig(c).ok()) << "no option injection through the tap name";
  c.tap = "clawtap3";
  c.mac = "52:54:00:00:00:0G";
  EXPECT_FALSE(ValidateQemuConfig(c).ok());
}

TEST(QemuCommandTest, TscFromCpuinfo) {
  clawos::testing::TempDir dir;
  ASSERT_TRUE(
      WriteFileAtomic(dir.Sub("cpuinfo"), "processor\t: 0\ncpu MHz\t\t: 2499.998\n", 0644).ok());
  EXPECT_EQ(HostTscKhz(dir.Sub("cpuinfo")), 2499998);
  EXPECT_EQ(HostTscKhz(dir.Sub("missing")), 0);
}

TEST(QemuCommandTest, AccelNeedsUsableKvmAndHardwareVirtualisation) {
  clawos::testing::TempDir dir;
  std::string why;
  ASSERT_TRUE(WriteFileAtomic(dir.Sub("kvm"), "", 0600).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Sub("pvm"), "flags\t\t: fpu vme sse2 hypervisor\n", 0644).ok());
  ASSERT_TRUE(WriteFileAtomic(dir.Sub("vmx"), "flags\t\t: fpu vme vmx sse2\n", 0644).ok());
  EXPECT_EQ(DetectAccel(&why, dir.Sub("vmx"), dir.Sub("kvm")), "kvm") << why;
  EXPECT_EQ(DetectAccel(&why, dir.Sub("pvm"), dir.Sub("kvm")), "tcg");
  EXPECT_NE(why.find("no vmx/svm"), std::string::npos) << why;
  EXPECT_EQ(DetectAccel(&why, dir.Sub("vmx"), dir.Sub("no-kvm")), "tcg");
  EXPECT_NE(why.find("not usable"), std::string::npos) << why;
}

}  // namespace
}  // namespace clawos::launcher
