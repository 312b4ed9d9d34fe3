-- wrk script for scripts/load-ingest.sh: POSTs Alertmanager API v2 batches
-- of BATCH alerts drawn from DISTINCT distinct alerts, as the issue's
-- Alertmanager figures were measured.
local batch = tonumber(os.getenv("BATCH") or "100")
local distinct = tonumber(os.getenv("DISTINCT") or "10000")
local bodies = {}
local n = 0

init = function(args)
  local per = math.max(1, math.floor(distinct / batch))
  for b = 0, per - 1 do
    local parts = {}
    for i = 0, batch - 1 do
      local k = (b * batch + i) % distinct
      parts[#parts + 1] = string.format(
        '{"labels":{"alertname":"Load%d","master":"m%d","severity":"warning"},"annotations":{"summary":"load test alert %d"},"generatorURL":"http://prom/graph"}',
        k % 20, k, k)
    end
    bodies[#bodies + 1] = "[" .. table.concat(parts, ",") .. "]"
  end
end

request = function()
  n = n + 1
  return wrk.format("POST", "/api/v2/alerts", {["Content-Type"] = "application/json"}, bodies[(n % #bodies) + 1])
end
