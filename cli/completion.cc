#include "cli/completion.h"

#include <iostream>
#include <map>
#include <string>
#include <vector>

#include "absl/strings/str_join.h"

namespace clawos::cli {
namespace {

// " vm start" → the words that may follow it (subcommands, then options).
void Walk(CLI::App* app, const std::string& path, std::map<std::string, std::string>* out) {
  std::vector<std::string> words;
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) {
    words.push_back(sub->get_name());
    Walk(sub, path + " " + sub->get_name(), out);
  }
  for (const CLI::Option* opt : app->get_options()) {
    for (const auto& l : opt->get_lnames()) words.push_back("--" + l);
    for (const auto& s : opt->get_snames()) words.push_back("-" + s);
  }
  (*out)[path] = absl::StrJoin(words, " ");
}

std::string Bash(CLI::App* root) {
  std::map<std::string, std::string> paths;
  Walk(root, "", &paths);
  std::vector<std::string> known;
  for (const auto& [path, words] : paths) {
    if (!path.empty()) known.push_back("\"" + path + "\"");
  }
  std::string s =
      "# bash completion for clawos: source it, or put it in "
      "/etc/bash_completion.d/clawos\n"
      "# (clawos completion bash > /etc/bash_completion.d/clawos)\n"
      "_clawos() {\n"
      "  local cur=${COMP_WORDS[COMP_CWORD]} path=\"\" w i\n"
      "  for ((i = 1; i < COMP_CWORD; i++)); do\n"
      "    w=${COMP_WORDS[i]}\n"
      "    case \"$path $w\" in\n      " +
      absl::StrJoin(known, "|") +
      ") path=\"$path $w\" ;;\n"
      "    esac\n"
      "  done\n"
      "  local words\n"
      "  case \"$path\" in\n";
  for (const auto& [path, words] : paths) {
    s += "    \"" + path + "\") words=\"" + words + "\" ;;\n";
  }
  s += "  esac\n"
       "  COMPREPLY=($(compgen -W \"$words\" -- \"$cur\"))\n"
       "}\n"
       "complete -o default -F _clawos clawos\n";
  return s;
}

}  // namespace

void AddCompletionCommand(CLI::App& app) {
  auto* c = app.add_subcommand("completion", "Print a shell completion script (bash)");
  auto shell = std::make_shared<std::string>("bash");
  c->add_option("shell", *shell, "bash")->check(CLI::IsMember({"bash"}))->capture_default_str();
  CLI::App* root = &app;
  c->callback([root] { std::cout << Bash(root); });
}

}  // namespace clawos::cli
