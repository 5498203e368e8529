-- wrk script: GET /api/v1/summary, or the get_summary tool over POST /mcp, rotating over many
-- API keys so no per-key rate limit caps the figure, with the same range either way.
-- args: KEYS_FILE rest|mcp
-- Counts answers that are not the summary (a non-200, or a tool error) and prints them at the
-- end as "bad answers: N", so a figure made of refusals is seen.

local keys = {}
local mode = "rest"
local counter = 0
local threads = {}
bad = 0

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then keys[#keys + 1] = line end
  end
  mode = args[2] or mode
end

local mcp_body = '{"jsonrpc":"2.0","id":1,"method":"tools/call",' ..
  '"params":{"name":"get_summary","arguments":{"period":"30d"}}}'

function request()
  counter = counter + 1
  -- Keys come 16 per org, in org order: step across orgs so consecutive requests spread over
  -- the 8 orgs' read slots instead of queueing on one.
  local orgs = 8
  local per_org = math.floor(#keys / orgs)
  local key = keys[(counter % orgs) * per_org + math.floor(counter / orgs) % per_org + 1]
  if mode == "mcp" then
    return wrk.format("POST", "/mcp", {
      ["Authorization"] = "Bearer " .. key,
      ["Content-Type"] = "application/json",
      ["Accept"] = "application/json, text/event-stream",
      ["MCP-Protocol-Version"] = "2025-06-18",
    }, mcp_body)
  end
  return wrk.format("GET", "/api/v1/summary?period=30d", { ["Authorization"] = "Bearer " .. key })
end

function response(status, headers, body)
  if status ~= 200 or (mode == "mcp" and not string.find(body, '"isError":false', 1, true)) then
    bad = bad + 1
  end
end

function done(summary, latency, requests)
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("bad") end
  io.write(string.format("bad answers: %d\n", total))
end
