// Templates against real guests: the first start of an image and shape makes
// the template and later starts restore from it; two VMs restored from one
// template are two machines (randomness, hostname, machine id, disks, the
// identity their inference requests carry); a cold start boots; a tampered
// template is dropped and the start boots instead; templates are listed,
// made and deleted, 0600 in 0700.
#include <sys/stat.h>

#include <mutex>
#include <set>

#include "absl/strings/str_split.h"
#include "common/files.h"
#include "common/testing/flip_byte.h"
#include "test/integration/launcher_fixture.h"

namespace clawos::launcher {
namespace {

class LauncherTemplateTest : public LauncherFixture {
 protected:
  // Each VM's answers to one shell line: 32 random bytes (hex), hostname,
  // machine id and what is mounted on /var and /workspace.
  std::vector<std::string> Facts(const std::string& vm) {
    auto out =
        Exec(vm, {"sh", "-c",
                  "head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \\n'; echo; hostname; "
                  "cat /etc/machine-id; awk '$2==\"/var\"||$2==\"/workspace\"{print $2\":\"$3}' "
                  "/proc/mounts | sort | tr '\\n' ' '; echo"});
    EXPECT_TRUE(out.ok()) << out.status();
    std::vector<std::string> lines = absl::StrSplit(out.value_or(""), '\n');
    lines.resize(4);
    return lines;
  }
};

TEST_F(LauncherTemplateTest, ClonesOfOneTemplateAreDifferentMachines) {
  // The inference tunnel's host end: which VM each request came from (the
  // identity the real tunnel attaches a token for).
  auto seen = std::make_shared<std::pair<std::mutex, std::multiset<std::string>>>();
  launcher_.reset();
  LauncherConfig c = Config();
  c.on_inference = [seen](const std::string& vm, const std::string&, std::unique_ptr<AgentStream> s,
                          apb::Frame) {
    {
      std::lock_guard lock(seen->first);
      seen->second.insert(vm);
    }
    apb::Frame head;
    head.mutable_inference_response()->set_status(200);
    s->Send(head).IgnoreError();
    apb::Frame body;
    body.mutable_inference_response_body()->set_data("{}");
    body.mutable_inference_response_body()->set_eof(true);
    s->Send(body).IgnoreError();
    s->End();
  };
  launcher_ = Launcher::Open(c, RealClock::Get()).value();
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("a")).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("b")).ok());
  auto a = launcher_->StartVm("a");
  ASSERT_TRUE(a.ok()) << a.status();
  ASSERT_FALSE(a->template_id.empty()) << "the first start of the shape made its template";
  auto templates = launcher_->ListTemplates();
  ASSERT_EQ(templates.size(), 1u);
  EXPECT_EQ(templates[0].id, a->template_id);
  EXPECT_GT(templates[0].ram_data_bytes, 0);
  EXPECT_LT(templates[0].ram_data_bytes, templates[0].ram_bytes) << "only touched pages are kept";
  auto b = launcher_->StartVm("b");
  ASSERT_TRUE(b.ok()) << b.status();
  EXPECT_EQ(b->template_id, a->template_id);

  auto fa = Facts("a"), fb = Facts("b");
  EXPECT_EQ(fa[0].size(), 64u) << fa[0];
  EXPECT_NE(fa[0], fb[0]) << "the clones' kernel RNGs were reseeded apart";
  EXPECT_EQ(fa[1], "a");
  EXPECT_EQ(fb[1], "b");
  EXPECT_EQ(fa[2].size(), 32u) << fa[2];
  EXPECT_NE(fa[2], fb[2]) << "each VM has its own machine id";
  EXPECT_EQ(fa[3], "/var:ext4 /workspace:ext4 ") << "the VM's own disks, mounted after the restore";

  ASSERT_TRUE(Put("a", "/workspace/mine.txt", "a's").ok());
  EXPECT_EQ(Exec("b", {"ls", "-A", "/workspace"}).value_or("?"), "lost+found\n")
      << "b does not see a's workspace";
  for (const char* vm : {"a", "b"}) {
    auto out = Exec(vm, {"wget", "-q", "-O", "-", "http://127.0.0.1:11435/v1/models"});
    EXPECT_EQ(out.value_or("?"), "{}") << vm << ": " << out.status();
  }
  {
    std::lock_guard lock(seen->first);
    EXPECT_EQ(seen->second, (std::multiset<std::string>{"a", "b"}))
        << "each clone's requests carry its own identity";
  }

  // A restored VM stops and starts again from the template, its workspace kept.
  ASSERT_TRUE(launcher_->StopVm("a").ok());
  auto again = launcher_->StartVm("a");
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->template_id, a->template_id);
  EXPECT_EQ(Get("a", "/workspace/mine.txt").value_or("?"), "a's");
  EXPECT_EQ(Facts("a")[2], fa[2]) << "the machine id is the VM's for life";
}

TEST_F(LauncherTemplateTest, ColdStartsBootAndATamperedTemplateIsDropped) {
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  ASSERT_TRUE(launcher_->CreateVm(Spec("t")).ok());
  StartOptions cold;
  cold.cold = true;
  auto booted = launcher_->StartVm("t", cold);
  ASSERT_TRUE(booted.ok()) << booted.status();
  EXPECT_TRUE(booted->template_id.empty());
  EXPECT_TRUE(launcher_->ListTemplates().empty()) << "a cold start makes no template";
  ASSERT_TRUE(launcher_->StopVm("t").ok());

  auto restored = launcher_->StartVm("t");
  ASSERT_TRUE(restored.ok()) << restored.status();
  ASSERT_FALSE(restored->template_id.empty());
  ASSERT_TRUE(launcher_->StopVm("t").ok());
  // One flipped byte in the stored memory: the next launcher (which loads it
  // afresh) refuses the template, deletes it and boots the VM.
  const std::string dir = Config().state_dir + "/templates/" + restored->template_id;
  clawos::testing::FlipByte(dir + "/ram", 4096 * 300);
  launcher_.reset();
  launcher_ = Launcher::Open(Config(), RealClock::Get()).value();
  auto after = launcher_->StartVm("t");
  ASSERT_TRUE(after.ok()) << after.status();
  EXPECT_TRUE(after->template_id.empty()) << "booted, not restored from a tampered template";
  EXPECT_FALSE(PathExists(dir)) << "the tampered template is deleted";
}

TEST_F(LauncherTemplateTest, TemplatesAreMadeListedAndDeleted) {
  ASSERT_TRUE(launcher_->ImportImage("agent", image_).ok());
  VmSpec shape = Spec("x");
  auto made = launcher_->MakeTemplate("agent", shape);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(made->key.image, "agent");
  EXPECT_EQ(made->key.workspace_disk_mib, 32);
  EXPECT_NE(made->key.vmm.find("sha256:"), std::string::npos) << made->key.vmm;
  const std::string dir = Config().state_dir + "/templates/" + made->id;
  struct stat st {};
  ASSERT_EQ(::stat(dir.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0700u);
  for (const char* f : {"/ram", "/state", "/template.json"}) {
    ASSERT_EQ(::stat((dir + f).c_str(), &st), 0) << f;
    EXPECT_EQ(st.st_mode & 0777, 0600u) << f;
    EXPECT_EQ(st.st_uid, 0u) << f;
  }
  EXPECT_EQ(launcher_->ListTemplates().size(), 1u);
  // A VM of that shape restores from it at once (no build).
  ASSERT_TRUE(launcher_->CreateVm(shape).ok());
  auto vm = launcher_->StartVm("x");
  ASSERT_TRUE(vm.ok()) << vm.status();
  EXPECT_EQ(vm->template_id, made->id);
  ASSERT_TRUE(launcher_->DeleteTemplate(made->id).ok());
  EXPECT_FALSE(PathExists(dir));
  EXPECT_TRUE(Exec("x", {"true"}).ok()) << "a VM restored from a deleted template runs on";
  EXPECT_EQ(launcher_->DeleteTemplate(made->id).code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(launcher_->DeleteTemplate("../../etc").code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(launcher_->MakeTemplate("nope", shape).status().code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace clawos::launcher
