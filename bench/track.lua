-- wrk script: POST /api/v1/track (or /track/validate) with a fresh body and Idempotency-Key per
-- request, rotating over many API keys so no per-key rate limit caps the figure.
-- args: KEYS_FILE PATH [BATCH [replay]]   (BATCH > 0 sends /track/batch bodies of that many
-- events; "replay" cycles over 8 fixed batches, each always with the same API key, so after the
-- warm-up every event is a replay of its Idempotency-Key)

local keys = {}
local path = "/api/v1/track"
local batch = 0
local replay = false
local counter = 0
-- wrk's LuaJIT starts math.random from the same seed every time: without a seed of our own,
-- every wrk run sent the same Idempotency-Keys with the same bodies, and each run after the
-- first measured replays, not new events.
math.randomseed(os.time())
local run = tostring(os.time()) .. "-" .. tostring(math.random(1, 1e9))
local task_types = { "email_classification", "ticket_routing", "customer_email_draft",
                     "duplicate_detection", "blog_short_draft", "invoice_data_extraction" }
local outcomes = { "success", "success", "success", "needs_review", "failure" }

function init(args)
  for line in io.lines(args[1]) do
    if #line > 0 then keys[#keys + 1] = line end
  end
  path = args[2] or path
  batch = tonumber(args[3] or "0")
  replay = args[4] == "replay"
  run = run .. "-" .. tostring(math.random(1, 1e9))
  if replay then run = "replay" end
end

local function event(n, with_key)
  local s = string.format(
    '{"agent_id":"agent-%d","task_type":"%s","outcome":"%s","agent_duration_seconds":%d.%d,' ..
    '"model":"openai/gpt-4o-mini","tokens_in":%d,"tokens_out":%d,"metadata":{"client":"client-%d"}',
    n % 20, task_types[n % #task_types + 1], outcomes[n % #outcomes + 1], n % 30, n % 10,
    500 + n % 1000, 100 + n % 300, n % 8)
  if with_key then
    s = s .. string.format(',"idempotency_key":"%s-%d"', run, n)
  end
  return s .. "}"
end

function request()
  counter = counter + 1
  if replay then counter = counter % 8 end
  local key = keys[counter % #keys + 1]
  local headers = { ["Authorization"] = "Bearer " .. key, ["Content-Type"] = "application/json" }
  local body
  if batch > 0 then
    local items = {}
    for i = 1, batch do
      items[i] = event(counter * batch + i, true)
    end
    body = '{"events":[' .. table.concat(items, ",") .. ']}'
  else
    headers["Idempotency-Key"] = run .. "-" .. counter
    body = event(counter, false)
  end
  return wrk.format("POST", path, headers, body)
end
