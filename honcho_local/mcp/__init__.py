"""The MCP door: Honcho's own MCP tool set, served over streamable HTTP at `/mcp` and over stdio by
`honcho-local mcp`.

The tools are written once, over HTTP calls to the v3 API of the running server (`caller.V3`), so the
two doors share one implementation and neither opens the DuckDB file: `serve` owns it. `server.build`
makes the `MCPServer`; `door.McpMount` mounts its streamable HTTP app in front of the served app.
docs/mcp.md shows the set-up for desktop agents.
"""
