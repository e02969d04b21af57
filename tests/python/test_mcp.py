"""`mmprompt mcp` driven by the official MCP Python SDK (the `mcp` package from PyPI)."""

import asyncio
import base64
import json
import os
from pathlib import Path

import pytest
from mcp import ClientSession, MCPError, StdioServerParameters
from mcp.client.stdio import stdio_client

ROOT = Path(__file__).resolve().parents[2]
BIN = os.environ.get("MMPROMPT_BIN", str(ROOT / "target" / "debug" / "mmprompt"))


def session(test, *allow):
    """Runs `test(session)` against a server started with --allow for each folder."""
    args = ["mcp"]
    for a in allow:
        args += ["--allow", str(a)]

    async def run():
        params = StdioServerParameters(command=BIN, args=args, cwd=str(ROOT))
        async with stdio_client(params) as (read, write):
            async with ClientSession(read, write) as s:
                await s.initialize()
                return await asyncio.wait_for(test(s), 120)

    return asyncio.run(run())


def text(result):
    return "".join(c.text for c in result.content if c.type == "text")


def cli_doc(*args):
    import subprocess
    r = subprocess.run([BIN, *args], capture_output=True, text=True, cwd=ROOT, timeout=300)
    assert r.returncode == 0, r.stderr
    return r.stdout


def test_tools_resources_and_confinement(tmp_path):
    outside = tmp_path / "secret.png"
    outside.write_bytes((ROOT / "samples/shapes.png").read_bytes())
    link = ROOT / "samples" / ".mcp-test-link.png"

    async def test(s):
        tools = {t.name: t for t in (await s.list_tools()).tools}
        assert set(tools) == {"extract", "prompt"}
        # The input schemas are the option types the flags come from.
        schema = json.dumps(tools["extract"].input_schema)
        for flag in ("max_regions", "min_area", "max_image_bytes", "hop_ms"):
            assert flag in schema, flag
        assert "max_prompt_tokens" in json.dumps(tools["prompt"].input_schema)

        r = await s.call_tool("extract", {"path": "samples/shapes.png"})
        assert not r.is_error, text(r)
        assert json.loads(text(r)) == json.loads(cli_doc("extract", "samples/shapes.png"))
        r = await s.call_tool("extract", {"path": "samples/audio/chime_complete.wav",
                                          "format": "text", "options": {"hop_ms": 20}})
        assert text(r) == cli_doc("extract", "samples/audio/chime_complete.wav",
                                  "--format", "text", "--hop-ms", "20")
        data = base64.b64encode((ROOT / "samples/coins.png").read_bytes()).decode()
        r = await s.call_tool("extract", {"content_base64": data, "name": "samples/coins.png"})
        assert json.loads(text(r)) == json.loads(cli_doc("extract", "samples/coins.png"))

        # Refused, with the reason: outside the folders, through a link, bad option, bad input.
        r = await s.call_tool("extract", {"path": str(outside)})
        assert r.is_error and "outside the allowed folders" in text(r), text(r)
        r = await s.call_tool("extract", {"path": str(link)})
        assert r.is_error and "outside the allowed folders" in text(r), text(r)
        r = await s.call_tool("extract", {"path": "samples/shapes.png", "options": {"blur": 500}})
        assert r.is_error and text(r) == "option blur: '500' must be between 0 and 100"
        r = await s.call_tool("extract", {"content_base64": "aGVsbG8=", "name": "hello.txt"})
        assert r.is_error and "hello.txt" in text(r) and "unknown_format" in text(r), text(r)
        r = await s.call_tool("prompt", {"inputs": [str(outside)]})
        assert r.is_error and "outside the allowed folders" in text(r)
        r = await s.call_tool("prompt", {"inputs": ["samples/shapes.png"],
                                         "options": {"template": f"@{outside}"}})
        assert r.is_error and "outside the allowed folders" in text(r)

        r = await s.call_tool("prompt", {
            "inputs": ["samples/shapes.png"],
            "options": {"provider": "openai", "model": "m", "endpoint": "http://127.0.0.1:9",
                        "max_prompt_tokens": 800},
        })
        assert not r.is_error, text(r)
        want = cli_doc("prompt", "samples/shapes.png", "--provider", "openai", "--model", "m",
                       "--endpoint", "http://127.0.0.1:9", "--max-prompt-tokens", "800")
        assert json.loads(text(r)) == json.loads(want)

        resources = {str(r.uri): r for r in (await s.list_resources()).resources}
        assert set(resources) == {"mmprompt://context", "mmprompt://schema"}
        ctx = (await s.read_resource("mmprompt://context")).contents[0]
        assert json.loads(ctx.text) == json.loads(cli_doc("schema", "--context"))
        sch = (await s.read_resource("mmprompt://schema")).contents[0]
        assert json.loads(sch.text) == json.loads(cli_doc("schema"))
        with pytest.raises(MCPError):
            await s.read_resource("mmprompt://nothing")

    link.unlink(missing_ok=True)
    link.symlink_to(outside)
    try:
        session(test, ROOT / "samples")
    finally:
        link.unlink(missing_ok=True)


def test_without_allow_only_bytes_are_read():
    async def test(s):
        r = await s.call_tool("extract", {"path": "samples/shapes.png"})
        assert r.is_error and "--allow" in text(r)
        data = base64.b64encode((ROOT / "samples/shapes.png").read_bytes()).decode()
        r = await s.call_tool("extract", {"content_base64": data, "format": "text"})
        assert not r.is_error and "regions=4" in text(r)

    session(test)
