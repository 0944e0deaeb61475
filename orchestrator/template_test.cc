#include "orchestrator/template.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/testing/subprocess.h"
#include "common/testing/temp_dir.h"
#include "orchestrator/shell_template.h"

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

TEST(TemplateTest, RawIsAFilter) {
  for (const char* text : {"{{ steps.a.stdout | raw }}", "{{steps.a.stdout|raw}}"}) {
    auto refs = ParseTemplate(text);
    ASSERT_TRUE(refs.ok()) << text << ": " << refs.status();
    ASSERT_EQ(refs->size(), 1u);
    EXPECT_TRUE((*refs)[0].raw);
    EXPECT_EQ((*refs)[0].step, "a");
  }
  EXPECT_FALSE((*ParseTemplate("{{ steps.a.stdout }}"))[0].raw);
  auto bad = ParseTemplate("{{ steps.a.stdout | shout }}");
  ASSERT_FALSE(bad.ok());
  EXPECT_THAT(std::string(bad.status().message()),
              ::testing::HasSubstr("unknown filter \"shout\""));
  EXPECT_FALSE(ParseTemplate("{{ | raw }}").ok());
  // Elsewhere than in an exec string, the text is inserted as is anyway.
  auto out = RenderTemplate("<{{ steps.a.stdout | raw }}>",
                            [](const TemplateRef&) -> absl::StatusOr<std::string> { return "$x"; });
  EXPECT_EQ(*out, "<$x>");
}

// Resolves steps.<id>.stdout to values[id], exit codes to "41", workflow.id to "wf".
TemplateResolver Values(std::map<std::string, std::string> values) {
  return [values](const TemplateRef& r) -> absl::StatusOr<std::string> {
    if (r.kind == TemplateRef::kWorkflowId) return std::string("wf");
    if (r.kind == TemplateRef::kExitCode) return std::string("41");
    auto it = values.find(r.step);
    if (it == values.end()) return absl::NotFoundError("no output of " + r.step);
    return it->second;
  };
}

TEST(ShellTemplateTest, TemplatesBecomeVariableReferencesFitForTheirPlace) {
  auto cmd = RenderShellTemplate(
      "echo {{steps.a.stdout}} \"in {{ steps.a.stdout }}\" 'in {{steps.b.exit_code}}' "
      "{{workflow.id}}",
      Values({{"a", "$(reboot)"}}));
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_EQ(cmd->script,
            "echo \"${CLAWOS_TEMPLATE_1}\" \"in ${CLAWOS_TEMPLATE_1}\" "
            "'in '\"${CLAWOS_TEMPLATE_2}\"'' \"${CLAWOS_TEMPLATE_3}\"");
  EXPECT_EQ(cmd->env, (std::map<std::string, std::string>{{"CLAWOS_TEMPLATE_1", "$(reboot)"},
                                                          {"CLAWOS_TEMPLATE_2", "41"},
                                                          {"CLAWOS_TEMPLATE_3", "wf"}}));
}

// Every place a template can stand in a script, run by real shells with hostile
// values: each prints exactly the value, and nothing of the value runs.
TEST(ShellTemplateTest, HostileValuesAreDataInEveryShellAndPlace) {
  testing::TempDir dir;
  const std::string d = dir.path();
  std::filesystem::create_directory(d + "/keep");
  const std::string pwned = d + "/pwned";
  const std::vector<std::string> values = {
      "$(touch /workspace/pwned)",
      absl::StrCat("$(touch ", pwned, ")"),
      absl::StrCat("`touch ", pwned, "`"),
      absl::StrCat("'; touch ", pwned, "; '"),
      absl::StrCat("\"; touch ", pwned, "; \""),
      absl::StrCat("one\ntouch ", pwned, "\nthree"),
      absl::StrCat("; rm -rf ", d, "/keep; touch ", pwned),
      absl::StrCat("\xff\xfe\xc3( invalid UTF-8 $(touch ", pwned, ")"),
      absl::StrCat("x\nEOF\ntouch ", pwned, "\n"),
      absl::StrCat(") ; touch ", pwned, " ; ("),
      "a'b\"c\\d$HOME `x` ${PATH} \\n",
      "*",
      "'\"${CLAWOS_TEMPLATE_1}\"'",
      "",
      "  two  spaces  ",
  };
  struct Place {
    const char* name;
    std::string script;
    std::string before, after;  // around the value in the output
  };
  const std::vector<Place> places = {
      {"unquoted", "printf '[%s]' {{ steps.a.stdout }}", "[", "]"},
      {"glued", "printf '[%s]' a{{steps.a.stdout}}b", "[a", "b]"},
      {"double", "printf '[%s]' \"in: {{steps.a.stdout}} :ni\"", "[in: ", " :ni]"},
      {"single", "printf '[%s]' 'in: {{steps.a.stdout}} :ni'", "[in: ", " :ni]"},
      {"heredoc", "cat <<EOF\n[{{steps.a.stdout}}]\nEOF\n", "[", "]\n"},
      {"heredoc_tabs", "cat <<-END\n\t[{{steps.a.stdout}}]\n\tEND\necho done", "[", "]\ndone\n"},
      {"subst", "printf '[%s]' \"$(printf '%s.' {{steps.a.stdout}})\"", "[", ".]"},
      {"subst_double", "printf '[%s]' \"$(printf '%s.' \"{{steps.a.stdout}}\")\"", "[", ".]"},
      {"backticks", "printf '[%s]' \"`printf '%s.' {{steps.a.stdout}}`\"", "[", ".]"},
      {"after_comment", "# it's a \"comment\" (really\nprintf '[%s]' {{steps.a.stdout}}", "[", "]"},
      {"case", "case {{steps.a.stdout}} in *) printf '[%s]' {{steps.a.stdout}};; esac", "[", "]"},
      {"assignment", "x={{steps.a.stdout}}; printf '[%s]' \"$x\"", "[", "]"},
      {"arithmetic", "printf '[%s]' \"$(( {{steps.n.exit_code}} + 1 ))\" {{steps.a.stdout}}",
       "[42][", "]"},
  };
  std::vector<std::vector<std::string>> shells = {{"/bin/sh", "-c"}};
  for (const char* sh : {"/usr/bin/busybox", "/bin/busybox"}) {
    if (access(sh, X_OK) == 0) {
      shells.push_back({sh, "sh", "-c"});
      break;
    }
  }
  if (access("/bin/bash", X_OK) == 0) shells.push_back({"/bin/bash", "-c"});
  for (const auto& v : values) {
    for (const auto& place : places) {
      auto cmd = RenderShellTemplate(place.script, Values({{"a", v}}));
      ASSERT_TRUE(cmd.ok()) << place.name << ": " << cmd.status();
      if (v.size() > 2 && v.find("CLAWOS_TEMPLATE") == std::string::npos) {
        EXPECT_EQ(cmd->script.find(v), std::string::npos) << "the value is not in the script";
      }
      for (auto argv : shells) {
        argv.push_back(cmd->script);
        testing::RunResult r = testing::RunCommand(argv, "", cmd->env);
        std::string expected = place.before + v + place.after;
        EXPECT_EQ(r.out, expected)
            << argv[0] << ", " << place.name << ", value \"" << absl::CEscape(v)
            << "\"\nscript: " << cmd->script << "\nstderr: " << r.err;
        EXPECT_EQ(r.exit_code, 0) << argv[0] << ", " << place.name << ": " << r.err;
        EXPECT_FALSE(std::filesystem::exists(pwned))
            << argv[0] << ", " << place.name << ", value \"" << absl::CEscape(v) << "\"";
        EXPECT_TRUE(std::filesystem::exists(d + "/keep"));
        std::filesystem::remove(pwned);
      }
    }
  }
}

TEST(ShellTemplateTest, RawPastesTheTextForTheShellToParse) {
  testing::TempDir dir;
  const std::string pwned = dir.Sub("pwned");
  auto cmd = RenderShellTemplate("echo {{ steps.a.stdout | raw }} {{steps.a.stdout}}",
                                 Values({{"a", absl::StrCat("$(touch ", pwned, ")")}}));
  ASSERT_TRUE(cmd.ok()) << cmd.status();
  EXPECT_EQ(cmd->script, absl::StrCat("echo $(touch ", pwned, ") \"${CLAWOS_TEMPLATE_1}\""));
  testing::RunResult r = testing::RunCommand({"/bin/sh", "-c", cmd->script}, "", cmd->env);
  EXPECT_EQ(r.out, absl::StrCat("$(touch ", pwned, ")\n"));
  EXPECT_TRUE(std::filesystem::exists(pwned)) << "raw text is run: the opt-out works";
  // A raw value is read as script, so what follows is placed after it: here
  // inside the quote it opened.
  auto quoted = RenderShellTemplate("echo {{ steps.q.stdout | raw }}{{steps.a.stdout}}'",
                                    Values({{"q", "'"}, {"a", "x"}}));
  ASSERT_TRUE(quoted.ok());
  EXPECT_EQ(quoted->script, "echo ''\"${CLAWOS_TEMPLATE_1}\"''");
}

TEST(ShellTemplateTest, PlacesWhereTextCannotBeDataAreRefused) {
  auto values = Values({{"a", "v"}});
  for (const char* bad :
       {"printf %s \\{{steps.a.stdout}}", "cat <<{{steps.a.stdout}}\nx\n",
        "cat << {{steps.a.stdout}}\nx\n", "cat <<'EOF'\n{{steps.a.stdout}}\nEOF\n",
        "cat <<\"EOF\" | tr a b\nx {{steps.a.stdout}}\nEOF\n",
        "cat <<\\EOF\n{{steps.a.stdout}}\nEOF",
        "cat <<-'EOF'\n\t\tEOF x\n{{steps.a.stdout}}\n\tEOF\n"}) {
    auto cmd = RenderShellTemplate(bad, values);
    EXPECT_EQ(cmd.status().code(), absl::StatusCode::kInvalidArgument) << bad;
    EXPECT_EQ(CheckShellTemplate(bad).code(), absl::StatusCode::kInvalidArgument) << bad;
  }
  EXPECT_THAT(std::string(CheckShellTemplate("cat <<'EOF'\n{{steps.a.stdout}}\nEOF\n").message()),
              ::testing::HasSubstr("template {{ steps.a.stdout }} is in a here-document whose "
                                   "delimiter is quoted"));
  for (const char* good :
       {"cat <<'EOF'\n{{steps.a.stdout | raw}}\nEOF\n",
        "cat <<'EOF'\nx\nEOF\nprintf %s {{steps.a.stdout}}", "printf %s \\\\{{steps.a.stdout}}",
        "x=$((1<<2)); printf %s {{steps.a.stdout}}", "cat <<<{{steps.a.stdout}}",
        "cat <<EOF\n{{steps.a.stdout}}\nEOF\n"}) {
    EXPECT_TRUE(RenderShellTemplate(good, values).ok()) << good;
    EXPECT_TRUE(CheckShellTemplate(good).ok()) << good;
  }
}

TEST(ShellTemplateTest, NulBytesAndResolverErrorsFail) {
  auto nul =
      RenderShellTemplate("echo {{steps.a.stdout}}", Values({{"a", std::string("a\0b", 3)}}));
  ASSERT_EQ(nul.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(nul.status().message()),
              ::testing::HasSubstr("steps.a.stdout holds a NUL"));
  EXPECT_EQ(
      RenderShellTemplate("echo {{steps.a.stdout | raw}}", Values({{"a", std::string("a\0b", 3)}}))
          .status()
          .code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RenderShellTemplate("echo {{steps.zz.stdout}}", Values({})).status().code(),
            absl::StatusCode::kNotFound);
  // The largest text a command's environment string can hold, and one byte more.
  std::string big(kMaxShellTemplateValue, 'x');
  auto fits = RenderShellTemplate("printf %s {{steps.a.stdout}} | wc -c", Values({{"a", big}}));
  ASSERT_TRUE(fits.ok()) << fits.status();
  testing::RunResult r = testing::RunCommand({"/bin/sh", "-c", fits->script}, "", fits->env);
  EXPECT_EQ(r.out, absl::StrCat(kMaxShellTemplateValue, "\n")) << r.err;
  auto over = RenderShellTemplate("echo {{steps.a.stdout}}", Values({{"a", big + "x"}}));
  ASSERT_EQ(over.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(over.status().message()),
              ::testing::HasSubstr("steps.a.stdout is 131009 bytes, more than"));
}

}  // namespace
}  // namespace clawos::orchestrator
