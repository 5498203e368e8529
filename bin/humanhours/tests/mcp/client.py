"""Drives /mcp with the official MCP Python client (`mcp` 2.x from PyPI) for tests/mcp.rs.

Usage: client.py URL API_KEY MODE CALLS_JSON
MODE is the client's connect mode: `legacy` (the initialize handshake) or `auto` (probes
`server/discover`, falls back to initialize). CALLS_JSON is a list of [tool, arguments].
Prints one JSON object: the negotiated protocol version, the server's name, the tools as
listed, and for each call whether it was an error, its structured content and its text.
"""

import asyncio
import json
import sys

import httpx2
from mcp import Client
from mcp.client.streamable_http import streamable_http_client


async def main(url: str, key: str, mode: str, calls: list) -> None:
    http = httpx2.AsyncClient(headers={"Authorization": f"Bearer {key}"}, timeout=30)
    async with Client(streamable_http_client(url, http_client=http), mode=mode) as client:
        listed = await client.list_tools()
        out = {
            "protocol_version": client.protocol_version,
            "server": client.server_info.name if client.server_info else None,
            "tools": [
                {"name": t.name, "description": t.description, "input_schema": t.input_schema}
                for t in listed.tools
            ],
            "results": [],
        }
        for name, args in calls:
            r = await client.call_tool(name, args)
            texts = [c.text for c in r.content if c.type == "text"]
            if r.structured_content is not None:
                # The text is the same JSON as the structured content.
                assert json.loads(texts[0]) == r.structured_content, (name, texts)
            out["results"].append(
                {"name": name, "is_error": bool(r.is_error), "structured": r.structured_content, "text": texts}
            )
    await http.aclose()
    print(json.dumps(out))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], json.loads(sys.argv[4])))
