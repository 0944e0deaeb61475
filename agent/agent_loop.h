// `clawos-agent run`: a minimal tool-using agent loop inside the guest. It
// sends the task to the in-guest inference endpoint (OpenAI chat completions
// with tools), runs the tool calls the model asks for (agent/tools.h), sends
// the results back, and prints the model's final answer on stdout. Every
// request, answer and tool run is appended to a JSONL transcript.
//
//   clawos-agent run --model M [--max-iterations N] [--prompt-file F]
//                    [--port 11435] [--transcript F] [--system TEXT]
//
// The prompt comes from --prompt-file, else stdin. The transcript goes to
// --transcript, else $CLAWOS_STEP_DIR/transcript.jsonl when that is set.
// Exit codes: 0 answered, 2 usage, 3 the endpoint failed, 4 the iteration
// bound was reached without an answer.
#pragma once

namespace clawos::agent {

int RunAgentCommand(int argc, char** argv);

}  // namespace clawos::agent
