#include "agent/agent_loop.h"

#include <signal.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "agent/inference.h"
#include "agent/llm_client.h"
#include "agent/tools.h"

namespace clawos::agent {
namespace {

using nlohmann::json;

constexpr char kDefaultSystem[] =
    "You are an agent working inside a ClawOS microVM. Use the tools (shell, read_file, "
    "write_file) "
    "to do the task; /workspace is yours and files you leave in /workspace/out are kept. When the "
    "task is done, reply with the final answer as plain text and no tool call.";

struct Options {
  std::string model;
  int max_iterations = 10;
  std::string prompt_file;
  int port = kInferencePort;
  std::string transcript;
  std::string system = kDefaultSystem;
};

int Usage(const std::string& why) {
  std::cerr
      << "clawos-agent run: " << why
      << "\nusage: clawos-agent run --model M [--max-iterations N] [--prompt-file F] [--port P] "
         "[--transcript F] [--system TEXT]\n";
  return 2;
}

class Transcript {
 public:
  explicit Transcript(const std::string& path) {
    if (!path.empty()) out_.open(path, std::ios::app);
  }
  void Add(json line) {
    if (!out_) return;
    out_ << line.dump(-1, ' ', false, json::error_handler_t::replace) << "\n";
    out_.flush();
  }

 private:
  std::ofstream out_;
};

}  // namespace

int RunLoop(int argc, char** argv) {
  Options o;
  for (int i = 2; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&](std::string* out) {
      if (i + 1 >= argc) return false;
      *out = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--model" && value(&o.model)) continue;
    if (a == "--prompt-file" && value(&o.prompt_file)) continue;
    if (a == "--transcript" && value(&o.transcript)) continue;
    if (a == "--system" && value(&o.system)) continue;
    if (a == "--max-iterations" && value(&v)) {
      o.max_iterations = std::atoi(v.c_str());
      if (o.max_iterations < 1 || o.max_iterations > 100)
        return Usage("--max-iterations must be 1-100");
      continue;
    }
    if (a == "--port" && value(&v)) {
      o.port = std::atoi(v.c_str());
      continue;
    }
    return Usage("unknown or incomplete argument \"" + a + "\"");
  }
  if (o.model.empty()) {
    const char* vm_model = std::getenv("CLAWOS_MODEL");  // the VM's model (vm start --model)
    if (vm_model) o.model = vm_model;
  }
  if (o.model.empty()) return Usage("--model is required (or the VM's model, CLAWOS_MODEL)");
  std::string prompt;
  if (!o.prompt_file.empty()) {
    std::ifstream in(o.prompt_file, std::ios::binary);
    if (!in) return Usage("cannot read " + o.prompt_file + ": " + std::strerror(errno));
    prompt.assign(std::istreambuf_iterator<char>(in), {});
  } else {
    prompt.assign(std::istreambuf_iterator<char>(std::cin), {});
  }
  if (prompt.empty()) return Usage("the prompt is empty");
  if (o.transcript.empty()) {
    if (const char* dir = std::getenv("CLAWOS_STEP_DIR"))
      o.transcript = std::string(dir) + "/transcript.jsonl";
  }
  Transcript transcript(o.transcript);

  json messages = json::array(
      {{{"role", "system"}, {"content", o.system}}, {{"role", "user"}, {"content", prompt}}});
  transcript.Add({{"type", "task"}, {"model", o.model}, {"prompt", prompt}});
  for (int iteration = 1; iteration <= o.max_iterations; ++iteration) {
    json request = {{"model", o.model}, {"messages", messages}, {"tools", ToolSchemas()}};
    HttpReply reply = PostJson(o.port, "/v1/chat/completions",
                               request.dump(-1, ' ', false, json::error_handler_t::replace), 300);
    if (!reply.error.empty() || reply.status != 200) {
      std::string why = !reply.error.empty() ? reply.error
                                             : "HTTP " + std::to_string(reply.status) + ": " +
                                                   reply.body.substr(0, 2000);
      transcript.Add({{"type", "error"}, {"iteration", iteration}, {"error", why}});
      std::cerr << "clawos-agent run: the inference endpoint failed: " << why << "\n";
      return 3;
    }
    json answer = json::parse(reply.body, nullptr, false);
    if (!answer.is_object() || !answer.contains("choices") || !answer["choices"].is_array() ||
        answer["choices"].empty() || !answer["choices"][0].contains("message")) {
      transcript.Add({{"type", "error"}, {"iteration", iteration}, {"error", "malformed answer"}});
      std::cerr << "clawos-agent run: the answer is not a chat completion: "
                << reply.body.substr(0, 2000) << "\n";
      return 3;
    }
    json message = answer["choices"][0]["message"];
    transcript.Add({{"type", "answer"},
                    {"iteration", iteration},
                    {"message", message},
                    {"usage", answer.value("usage", json::object())}});
    messages.push_back(message);
    json calls = message.value("tool_calls", json::array());
    if (!calls.is_array() || calls.empty()) {
      std::string text = message.contains("content") && message["content"].is_string()
                             ? message["content"].get<std::string>()
                             : "";
      std::cout << text;
      if (text.empty() || text.back() != '\n') std::cout << "\n";
      return 0;
    }
    for (const auto& call : calls) {
      std::string id = call.value("id", "");
      json fn = call.value("function", json::object());
      std::string name = fn.value("name", "");
      std::string args = fn.contains("arguments") && fn["arguments"].is_string()
                             ? fn["arguments"].get<std::string>()
                             : "{}";
      ToolResult result = RunTool(name, args);
      transcript.Add({{"type", "tool"},
                      {"iteration", iteration},
                      {"name", name},
                      {"arguments", args},
                      {"exit_code", result.exit_code},
                      {"result", result.text}});
      messages.push_back({{"role", "tool"}, {"tool_call_id", id}, {"content", result.text}});
    }
  }
  transcript.Add({{"type", "error"}, {"error", "iteration bound reached"}});
  std::cerr << "clawos-agent run: " << o.max_iterations << " iterations without a final answer\n";
  return 4;
}

int RunAgentCommand(int argc, char** argv) {
  signal(SIGPIPE, SIG_IGN);
  // A model's answer of an unexpected shape (a null where an object was, a
  // number for an id) is an error the step reports, not a crash.
  try {
    return RunLoop(argc, argv);
  } catch (const std::exception& e) {
    std::cerr << "clawos-agent run: the model's answer could not be used: " << e.what() << "\n";
    return 3;
  }
}

}  // namespace clawos::agent
