#include "orchestrator/template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace clawos::orchestrator {
namespace {

TEST(TemplateTest, FindsReferences) {
  auto refs = ParseTemplate(
      "x {{steps.a.stdout}} {{ steps.b-2.exit_code }}{{steps.c.files.dir/r.txt}} {{workflow.id}}");
  ASSERT_TRUE(refs.ok()) << refs.status();
  ASSERT_EQ(refs->size(), 4u);
  EXPECT_EQ((*refs)[0], (TemplateRef{TemplateRef::kStdout, "a", ""}));
  EXPECT_EQ((*refs)[1], (TemplateRef{TemplateRef::kExitCode, "b-2", ""}));
  EXPECT_EQ((*refs)[2], (TemplateRef{TemplateRef::kFile, "c", "dir/r.txt"}));
  EXPECT_EQ((*refs)[3].kind, TemplateRef::kWorkflowId);
}

TEST(TemplateTest, RefusesBadReferences) {
  for (const char* bad :
       {"{{steps.a}}", "{{ steps..stdout }}", "{{steps.A.stdout}}", "{{steps.a.files../x}}",
        "{{steps.a.files./etc/passwd}}", "{{env.HOME}}", "{{steps.a.stdout", "{{}}"}) {
    EXPECT_FALSE(ParseTemplate(bad).ok()) << bad;
  }
  EXPECT_TRUE(ParseTemplate("no braces } here {").ok());
}

TEST(TemplateTest, RendersAndPassesErrorsThrough) {
  auto resolve = [](const TemplateRef& r) -> absl::StatusOr<std::string> {
    if (r.step == "missing") return absl::NotFoundError("no such output");
    return r.kind == TemplateRef::kExitCode ? std::string("3") : "<" + r.step + ">";
  };
  auto out = RenderTemplate("a={{steps.a.stdout}}, rc={{steps.a.exit_code}}.", resolve);
  ASSERT_TRUE(out.ok());
  EXPECT_EQ(*out, "a=<a>, rc=3.");
  // Rendering does not re-read what it inserted.
  auto nested =
      RenderTemplate("{{steps.x.stdout}}", [](const TemplateRef&) -> absl::StatusOr<std::string> {
        return std::string("{{steps.y.stdout}}");
      });
  EXPECT_EQ(*nested, "{{steps.y.stdout}}");
  EXPECT_EQ(RenderTemplate("{{steps.missing.stdout}}", resolve).status().code(),
            absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace clawos::orchestrator
