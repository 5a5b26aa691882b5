// Drives `isobox mcp` with the official MCP TypeScript SDK's client, for crates/isobox-cli/tests/mcp.rs.
//
//   node client.mjs COMMAND [ARGS...] < scenario.json
//   node client.mjs http://HOST:PORT/mcp < scenario.json      (Streamable HTTP; `Authorization: Bearer
//                                                                $ISOBOX_MCP_KEY` when that variable is set)
//
// The scenario on standard input is a JSON array of sessions, each an array of tool calls `{name, arguments}`. For
// each session, one after the other, the client launches the server as `COMMAND ARGS...` over stdio, initializes,
// lists the tools, makes the calls in order and closes. It prints one JSON object:
// `{"sessions": [{"server", "instructions", "tools", "results"}]}`, where a call the client rejects is
// `{"thrown": message}`. Checking the responses is the Rust test's job.
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const [command, ...args] = process.argv.slice(2);
let input = "";
for await (const chunk of process.stdin) input += chunk;
const scenario = JSON.parse(input);

const sessions = [];
for (const calls of scenario) {
  // The server gets this process's environment (ISOBOX_DATA_DIR, ISOBOX_CACHE_DIR…), not the SDK's default subset.
  const key = process.env.ISOBOX_MCP_KEY;
  const transport = /^https?:\/\//.test(command)
    ? new StreamableHTTPClientTransport(new URL(command), {
        requestInit: { headers: key ? { Authorization: `Bearer ${key}` } : {} },
      })
    : new StdioClientTransport({ command, args, env: process.env, stderr: "inherit" });
  const client = new Client({ name: "isobox-test", version: "1.0.0" });
  await client.connect(transport);
  const { tools } = await client.listTools();
  const results = [];
  for (const call of calls) {
    try {
      results.push(await client.callTool(call));
    } catch (error) {
      results.push({ thrown: String(error?.message ?? error) });
    }
  }
  sessions.push({ server: client.getServerVersion(), instructions: client.getInstructions(), tools, results });
  await client.close();
}
process.stdout.write(JSON.stringify({ sessions }) + "\n");
