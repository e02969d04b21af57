#!/usr/bin/env python3
"""A local fake LLM server for what no real server here can do: the documented wire shapes
of providers we cannot run (Ollama NDJSON, Gemini SSE, Anthropic's event sequence) and
fault injection. Listens on 127.0.0.1 only, prints "PORT <n>" once ready.

Routes: /s/<scenario>[.<tag>]/<provider path>. The scenario picks the behaviour; the whole
segment keys the per-scenario request counter, so tests never share state. Every request is
recorded; GET /_requests/<segment> returns them (path, headers, body, arrival time).

The answer cites the first fragment id found in the prompt text, so citation resolution can be
checked end to end.
"""
import base64
import json
import re
import socket
import struct
import sys
import threading
import time
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

LOCK = threading.Lock()
COUNTS = {}
RECORDS = {}
INFLIGHT = {}
MAX_INFLIGHT = {}


def provider_of(path):
    if path.endswith("/v1/chat/completions"):
        return "openai"
    if path.endswith("/v1/responses"):
        return "responses"
    if path.endswith("/api/chat"):
        return "ollama"
    if path.endswith("/v1/messages"):
        return "anthropic"
    if ":generateContent" in path or ":streamGenerateContent" in path:
        return "gemini"
    return None


def prompt_text(body):
    return json.dumps(body)


def answer_for(body):
    m = re.search(r"id=((?:m\d+\.)?[rs]\d+)", prompt_text(body))
    frag = m.group(1) if m else "r1"
    return json.dumps({"answer": "fake answer", "claims": [{"text": "something is there", "fragments": [frag, "zz9"]}]})


def pieces(text, n=3):
    k = max(1, len(text) // n)
    return [text[i:i + k] for i in range(0, len(text), k)]


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def send_json(self, status, obj, headers=()):
        data = json.dumps(obj).encode()
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.send_header("x-request-id", "req-fake-%d" % status)
        for k, v in headers:
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(data)

    def start_stream(self, ctype):
        self.send_response(200)
        self.send_header("content-type", ctype)
        self.send_header("x-request-id", "req-fake-stream")
        self.send_header("connection", "close")
        self.end_headers()
        self.close_connection = True

    def sse(self, obj, event=None):
        out = ""
        if event:
            out += "event: %s\n" % event
        out += "data: %s\n\n" % (obj if isinstance(obj, str) else json.dumps(obj))
        self.wfile.write(out.encode())
        self.wfile.flush()

    def do_CONNECT(self):
        # Act as an HTTP CONNECT proxy that is also the destination: acknowledge the tunnel,
        # then keep serving requests on this connection as if they came directly.
        with LOCK:
            RECORDS.setdefault("_connect", []).append({"target": self.path, "t": time.time()})
        self.send_response(200, "Connection established")
        self.end_headers()
        self.close_connection = False

    def do_GET(self):
        m = re.match(r"^/_requests/([^/]+)$", self.path)
        if m:
            with LOCK:
                recs = list(RECORDS.get(m.group(1), []))
                peak = MAX_INFLIGHT.get(m.group(1), 0)
            return self.send_json(200, {"requests": recs, "maxInflight": peak})
        self.send_json(404, {"error": {"message": "no route %s" % self.path, "type": "not_found"}})

    def do_POST(self):
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length)
        m = re.match(r"^/s/([^/]+)(/.*)$", self.path)
        if not m:
            return self.send_json(404, {"error": {"message": "no route", "type": "not_found"}})
        seg, rest = m.group(1), m.group(2)
        scenario = seg.split(".")[0]
        try:
            body = json.loads(raw or b"{}")
        except ValueError:
            return self.send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
        with LOCK:
            n = COUNTS.get(seg, 0) + 1
            COUNTS[seg] = n
            RECORDS.setdefault(seg, []).append(
                {"path": rest, "headers": dict(self.headers.items()), "body": body, "t": time.time()})
            INFLIGHT[seg] = INFLIGHT.get(seg, 0) + 1
            MAX_INFLIGHT[seg] = max(MAX_INFLIGHT.get(seg, 0), INFLIGHT[seg])
        try:
            self.handle_scenario(scenario, n, rest, body)
        finally:
            with LOCK:
                INFLIGHT[seg] -= 1

    def handle_scenario(self, scenario, n, rest, body):
        prov = provider_of(rest)
        if prov is None:
            return self.send_json(404, {"error": {"message": "unknown path %s" % rest, "type": "not_found"}})
        if scenario == "retry429" and n == 1:
            return self.send_json(429, {"error": {"message": "rate limited", "type": "rate_limit_error"}},
                                  [("retry-after", "1")])
        if scenario == "retrydate" and n == 1:
            return self.send_json(429, {"error": {"message": "rate limited", "type": "rate_limit_error"}},
                                  [("retry-after", formatdate(time.time() + 2, usegmt=True))])
        if scenario == "retrylong":
            return self.send_json(503, {"error": {"message": "down for maintenance"}}, [("retry-after", "3600")])
        if scenario == "flaky500" and n <= 2:
            return self.send_json(500, {"error": {"message": "internal oops %d" % n, "type": "server_error"}})
        if scenario == "always500":
            return self.send_json(500, {"error": {"message": "still broken", "type": "server_error"}})
        if scenario == "reset" and n == 1:
            s = self.connection
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            s.close()
            self.close_connection = True
            return
        if scenario == "e413":
            return self.send_json(413, {"error": {"message": "request entity too large", "type": "request_too_large"}})
        if scenario == "e401":
            key = self.headers.get("authorization", "") or self.headers.get("x-api-key", "") \
                or self.headers.get("x-goog-api-key", "")
            return self.send_json(401, {"error": {"message": "invalid api key: %s" % key, "type": "authentication_error"}})
        if scenario == "spend":
            return self.send_json(429, {"type": "error", "error": {
                "type": "rate_limit_error",
                "message": "You have reached your specified workspace API usage limits (spend limit)."}})
        if scenario == "okerror":
            return self.send_json(200, {"error": {"message": "model overloaded", "type": "overloaded_error"}})
        stream = bool(body.get("stream")) or ":streamGenerateContent" in rest
        if scenario == "slow":
            self.start_stream("text/event-stream" if prov != "ollama" else "application/x-ndjson")
            for _ in range(40):
                try:
                    self.wfile.write(b": waiting\n")
                    self.wfile.flush()
                except OSError:
                    return
                time.sleep(0.1)
            return
        if scenario == "malformed":
            self.start_stream("text/event-stream")
            self.wfile.write(b"data: {\"choices\":[{\"delta\":{\"content\":\"hel\"}}]}\n\n")
            self.wfile.write(b"data: {not json\n\n")
            self.wfile.flush()
            return
        text = answer_for(body) if scenario != "notjson" else "just some words"
        if scenario == "slowok":
            time.sleep(0.3)
        if prov == "ollama":
            return self.ollama(body, text, stream, scenario)
        if prov == "gemini":
            return self.gemini(text, stream)
        if prov == "anthropic":
            return self.anthropic(text, stream)
        if prov == "responses":
            return self.responses_api(text, stream)
        return self.openai(text, stream)

    def openai(self, text, stream):
        if not stream:
            return self.send_json(200, {
                "id": "chatcmpl-fake", "object": "chat.completion",
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 11, "completion_tokens": 7}})
        self.start_stream("text/event-stream")
        for p in pieces(text):
            self.sse({"id": "chatcmpl-fake", "choices": [{"index": 0, "delta": {"content": p}, "finish_reason": None}]})
        self.sse({"id": "chatcmpl-fake", "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}]})
        self.sse({"id": "chatcmpl-fake", "choices": [], "usage": {"prompt_tokens": 11, "completion_tokens": 7}})
        self.sse("[DONE]")

    def responses_api(self, text, stream):
        resp = {"id": "resp_fake", "status": "completed",
                "output": [{"type": "message", "content": [{"type": "output_text", "text": text}]}],
                "usage": {"input_tokens": 11, "output_tokens": 7}}
        if not stream:
            return self.send_json(200, resp)
        self.start_stream("text/event-stream")
        self.sse({"type": "response.created", "response": {"id": "resp_fake"}}, "response.created")
        for p in pieces(text):
            self.sse({"type": "response.output_text.delta", "delta": p}, "response.output_text.delta")
        self.sse({"type": "response.completed", "response": resp}, "response.completed")

    def anthropic(self, text, stream):
        if not stream:
            return self.send_json(200, {"id": "msg_fake", "type": "message", "role": "assistant",
                                        "content": [{"type": "text", "text": text}], "stop_reason": "end_turn",
                                        "usage": {"input_tokens": 11, "output_tokens": 7}})
        self.start_stream("text/event-stream")
        self.sse({"type": "message_start", "message": {"id": "msg_fake", "usage": {"input_tokens": 11, "output_tokens": 1}}}, "message_start")
        self.sse({"type": "content_block_start", "index": 0, "content_block": {"type": "text", "text": ""}}, "content_block_start")
        self.sse({"type": "ping"}, "ping")
        for p in pieces(text):
            self.sse({"type": "content_block_delta", "index": 0, "delta": {"type": "text_delta", "text": p}}, "content_block_delta")
        self.sse({"type": "content_block_stop", "index": 0}, "content_block_stop")
        self.sse({"type": "message_delta", "delta": {"stop_reason": "end_turn"}, "usage": {"output_tokens": 7}}, "message_delta")
        self.sse({"type": "message_stop"}, "message_stop")

    def gemini(self, text, stream):
        def chunk(t, last):
            c = {"candidates": [{"content": {"role": "model", "parts": [{"text": t}]}}], "responseId": "gem-fake"}
            if last:
                c["candidates"][0]["finishReason"] = "STOP"
                c["usageMetadata"] = {"promptTokenCount": 11, "candidatesTokenCount": 7}
            return c
        if not stream:
            return self.send_json(200, chunk(text, True))
        self.start_stream("text/event-stream")
        ps = pieces(text)
        for i, p in enumerate(ps):
            self.sse(chunk(p, i == len(ps) - 1))
        # Gemini sends no [DONE]: the stream just ends.

    def ollama(self, body, text, stream, scenario):
        if not stream:
            return self.send_json(200, {"model": body.get("model"), "message": {"role": "assistant", "content": text},
                                        "done": True, "done_reason": "stop", "prompt_eval_count": 11, "eval_count": 7})
        self.start_stream("application/x-ndjson")
        ps = pieces(text)
        for i, p in enumerate(ps):
            if scenario == "midstream" and i == 1:
                self.wfile.write((json.dumps({"error": "model runner has unexpectedly stopped"}) + "\n").encode())
                self.wfile.flush()
                return
            self.wfile.write((json.dumps({"message": {"role": "assistant", "content": p}, "done": False}) + "\n").encode())
            self.wfile.flush()
        self.wfile.write((json.dumps({"message": {"role": "assistant", "content": ""}, "done": True,
                                      "done_reason": "stop", "prompt_eval_count": 11, "eval_count": 7}) + "\n").encode())


def main():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    print("PORT %d" % srv.server_address[1], flush=True)
    # Exit when the test that started us goes away (stdin closes).
    threading.Thread(target=lambda: (sys.stdin.read(), srv.shutdown()), daemon=True).start()
    srv.serve_forever()


if __name__ == "__main__":
    main()
