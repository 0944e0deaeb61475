#!/usr/bin/env python3
"""A local stand-in for the OpenAI and Anthropic APIs, for the proxy's tests.

Speaks their wire formats: JSON answers with usage fields, SSE streams
(OpenAI chat chunks with the optional include_usage chunk, Responses API
events, Anthropic message_start/delta/stop events). Faults are chosen by the
model name:

  fault-500        answers 500 with the provider's error JSON
  fault-timeout    answers nothing for 60 s
  fault-malformed  answers 200 with a body that is not JSON
  fault-cut        starts a stream and drops the connection midway
  slow-stream      streams 50 chunks 100 ms apart; logs {"event": "aborted"} when
                   the reader hangs up before the end
  tool-agent       (chat completions, not streamed) an agent's model: asks for the
                   `shell` tool with `ls /workspace; (sleep 300 &)` until the conversation holds a
                   tool result, then answers "workspace: <the result's stdout>"

Usage: fake_llm.py --port-file FILE [--log FILE]
The chosen port is written to FILE; with --log, every request's method, path,
headers and body go to FILE as JSON lines.
"""
import argparse
import json
import socketserver
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, HTTPServer

LOG_LOCK = threading.Lock()
ARGS = None


def usage_for(body):
    prompt = max(1, len(json.dumps(body.get("messages", body.get("input", "")))) // 4)
    cap = body.get("max_completion_tokens") or body.get("max_tokens") or \
        body.get("max_output_tokens") or 16
    return prompt, min(int(cap), 7)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, fmt, *args):  # quiet
        pass

    def record(self, body):
        if not ARGS.log:
            return
        with LOG_LOCK, open(ARGS.log, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "headers": {k.lower(): v for k, v in self.headers.items()},
                                "body": body}) + "\n")

    def send_json(self, status, obj):
        data = obj if isinstance(obj, bytes) else json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def chunk(self, text):
        data = text.encode()
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def end_stream(self):
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def slow_stream(self):
        try:
            for i in range(50):
                self.chunk("data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": {"content": str(i)}}]}) + "\n\n")
                time.sleep(0.1)
            self.chunk("data: [DONE]\n\n")
            self.end_stream()
        except (BrokenPipeError, ConnectionResetError):
            self.record({"event": "aborted"})

    def tool_agent(self, body, prompt, completion):
        tools = [t.get("function", {}).get("name") for t in body.get("tools", [])]
        results = [m for m in body.get("messages", []) if m.get("role") == "tool"]
        if "shell" not in tools:
            message = {"role": "assistant", "content": "no shell tool was offered"}
        elif not results:
            message = {"role": "assistant", "content": None, "tool_calls": [{
                "id": "call_1", "type": "function",
                "function": {"name": "shell", "arguments": json.dumps({
                    # The background child keeps the output pipe open: the
                    # tool call must still end when the shell does.
                    "command": "ls /workspace; (sleep 300 &)", "timeout_s": 20})}}]}
        else:
            out = results[-1].get("content", "")
            listing = out.split("--- stdout ---\n", 1)[-1].split("\n--- stderr ---", 1)[0]
            message = {"role": "assistant", "content": "workspace: " + " ".join(listing.split())}
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        return self.send_json(200, {
            "id": "chatcmpl-t", "object": "chat.completion", "model": "tool-agent",
            "choices": [{"index": 0, "message": message, "finish_reason": finish}],
            "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                      "total_tokens": prompt + completion}})

    def do_GET(self):
        self.record(None)
        if self.path.startswith("/v1/models"):
            return self.send_json(200, {"object": "list", "data": [
                {"id": "gpt-4o-mini", "object": "model"}]})
        self.send_json(404, {"error": {"message": "no such route", "type": "not_found"}})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(length)
        try:
            body = json.loads(raw)
        except ValueError:
            body = None
        self.record(body)
        if not isinstance(body, dict):
            return self.send_json(400, {"error": {"message": "bad json", "type": "invalid_request_error"}})
        model = body.get("model", "")
        anthropic = self.path.startswith("/v1/messages")
        if model == "fault-500":
            err = {"type": "error", "error": {"type": "api_error", "message": "boom"}} if anthropic \
                else {"error": {"message": "boom", "type": "server_error"}}
            return self.send_json(500, err)
        if model == "fault-timeout":
            time.sleep(60)
            return
        if model == "fault-malformed":
            return self.send_json(200, b"{not json")
        prompt, completion = usage_for(body)
        stream = bool(body.get("stream"))
        if self.path == "/v1/chat/completions" and model == "tool-agent":
            return self.tool_agent(body, prompt, completion)
        if self.path == "/v1/chat/completions":
            if not stream:
                return self.send_json(200, {
                    "id": "chatcmpl-1", "object": "chat.completion", "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": "hello"},
                                 "finish_reason": "stop"}],
                    "usage": {"prompt_tokens": prompt, "completion_tokens": completion,
                              "total_tokens": prompt + completion}})
            self.start_stream()
            if model == "slow-stream":
                return self.slow_stream()
            for i, piece in enumerate(["hel", "lo", "!"]):
                if model == "fault-cut" and i == 1:
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.chunk("data: " + json.dumps({"id": "c1", "object": "chat.completion.chunk",
                           "choices": [{"index": 0, "delta": {"content": piece}}]}) + "\n\n")
            if (body.get("stream_options") or {}).get("include_usage"):
                self.chunk("data: " + json.dumps({"id": "c1", "choices": [], "usage": {
                    "prompt_tokens": prompt, "completion_tokens": completion,
                    "total_tokens": prompt + completion}}) + "\n\n")
            self.chunk("data: [DONE]\n\n")
            return self.end_stream()
        if self.path == "/v1/responses":
            resp = {"id": "resp_1", "object": "response", "output_text": "hello",
                    "usage": {"input_tokens": prompt, "output_tokens": completion}}
            if not stream:
                return self.send_json(200, resp)
            self.start_stream()
            self.chunk("event: response.output_text.delta\ndata: " +
                       json.dumps({"type": "response.output_text.delta", "delta": "hello"}) + "\n\n")
            self.chunk("event: response.completed\ndata: " +
                       json.dumps({"type": "response.completed", "response": resp}) + "\n\n")
            return self.end_stream()
        if self.path == "/v1/embeddings":
            return self.send_json(200, {"object": "list", "data": [
                {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
                "usage": {"prompt_tokens": prompt, "total_tokens": prompt}})
        if self.path == "/v1/messages/count_tokens":
            return self.send_json(200, {"input_tokens": prompt})
        if self.path == "/v1/messages":
            msg = {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
                   "content": [{"type": "text", "text": "hello"}], "stop_reason": "end_turn",
                   "usage": {"input_tokens": prompt, "output_tokens": completion}}
            if not stream:
                return self.send_json(200, msg)
            self.start_stream()
            start = dict(msg, content=[], usage={"input_tokens": prompt, "output_tokens": 1})
            events = [
                ("message_start", {"type": "message_start", "message": start}),
                ("content_block_start", {"type": "content_block_start", "index": 0,
                                         "content_block": {"type": "text", "text": ""}}),
                ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "text_delta", "text": "hel"}}),
                ("content_block_delta", {"type": "content_block_delta", "index": 0,
                                         "delta": {"type": "text_delta", "text": "lo"}}),
                ("content_block_stop", {"type": "content_block_stop", "index": 0}),
                ("message_delta", {"type": "message_delta", "delta": {"stop_reason": "end_turn"},
                                   "usage": {"output_tokens": completion}}),
                ("message_stop", {"type": "message_stop"}),
            ]
            for i, (name, data) in enumerate(events):
                if model == "fault-cut" and i == 3:
                    self.wfile.flush()
                    self.connection.shutdown(2)
                    return
                self.chunk("event: %s\ndata: %s\n\n" % (name, json.dumps(data)))
            return self.end_stream()
        self.send_json(404, {"error": {"message": "no such route", "type": "not_found"}})


class Server(socketserver.ThreadingMixIn, HTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256  # the proxy tests open hundreds of calls at once


def main():
    global ARGS
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, default=0)
    p.add_argument("--port-file", required=True)
    p.add_argument("--log")
    ARGS = p.parse_args()
    srv = Server(("127.0.0.1", ARGS.port), Handler)
    with open(ARGS.port_file + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    import os
    os.rename(ARGS.port_file + ".tmp", ARGS.port_file)
    srv.serve_forever()


if __name__ == "__main__":
    sys.exit(main())
