-- wrk script: POST arpwatch.get_mac for a random known address.
-- Known addresses are 10.77.X.Y for index 0 .. AAI_BENCH_KEYS-1 (see run).
-- Optional AAI_BENCH_DELAY_MS paces each connection (an open-loop
-- approximation of a fixed rate, since Debian has no wrk2).

local keys = tonumber(os.getenv("AAI_BENCH_KEYS") or "1000")
local delay_ms = tonumber(os.getenv("AAI_BENCH_DELAY_MS") or "0")
local path = os.getenv("AAI_BENCH_PATH") or "/RPC2"

local headers = { ["Content-Type"] = "text/xml" }
-- AAI_BENCH_CLOSE=1: one request per connection (the cost of a new one).
if os.getenv("AAI_BENCH_CLOSE") == "1" then
  headers["Connection"] = "close"
end

function setup(thread)
  thread:set("id", math.random(1, 1000000))
end

function init(args)
  math.randomseed(os.time() + (id or 0))
end

function request()
  local i = math.random(0, keys - 1)
  local ip = string.format("10.77.%d.%d", math.floor(i / 250), i % 250 + 1)
  local body = "<?xml version=\"1.0\"?><methodCall><methodName>arpwatch.get_mac</methodName>"
    .. "<params><param><value><string>" .. ip .. "</string></value></param></params></methodCall>"
  return wrk.format("POST", path, headers, body)
end

if delay_ms > 0 then
  function delay()
    return delay_ms
  end
end

function done(summary, latency, requests)
  local secs = summary.duration / 1e6
  local e = summary.errors
  io.write(string.format("RESULT %.0f %.3f %.3f %d\n",
    summary.requests / secs,
    latency:percentile(50) / 1000,
    latency:percentile(99) / 1000,
    e.connect + e.read + e.write + e.status + e.timeout))
end
