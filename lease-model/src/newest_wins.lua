-- Newest lease wins: one lease write, applied only if it is not older than
-- what the key holds. The rule is docs/redis-schema.md's "Several writers";
-- lease-model/src/newest.rs is the same rule in Rust, tested against this.
--
-- KEYS[1]  the lease key
-- ARGV[1]  "set":    ARGV[2] the new value, ARGV[3] its TTL in seconds
--                    ("0": none). 1 written, 0 refused.
--          "del":    ARGV[2] the ended lease's cltt. 1 deleted (or nothing
--                    was stored), 0 refused.
--          "forget": as "del", but returns the value it deleted (nil when
--                    nothing was stored), 0 refused.
-- Refused: the stored lease is newer; it stays, with its TTL.

local LIMIT = 4503599627370496 -- 2^52: larger cltts are not compared
local INFINITE = 4294967295

local function int(x, lo, hi)
  return type(x) == 'number' and x == math.floor(x) and x >= lo and x <= hi
end

-- cltt, expiry (nil: infinite) and node of a value, or nil if it is not a
-- record this rule can read (then anything replaces it).
local function standing(raw)
  if not raw then return nil end
  local ok, t = pcall(cjson.decode, raw)
  if not ok or type(t) ~= 'table' or t.v ~= 1 then return nil end
  local cltt, valid, node = t.cltt, t.valid_lifetime, t.node
  if not (int(cltt, 1 - LIMIT, LIMIT - 1) and int(valid, 0, INFINITE)
      and type(node) == 'string') then
    return nil
  end
  local expiry = nil
  if valid ~= INFINITE then expiry = cltt + valid end
  return {cltt = cltt, expiry = expiry, node = node}
end

-- a > b byte by byte (Lua's own `>` on strings follows the locale).
local function greater(a, b)
  for i = 1, math.min(#a, #b) do
    local x, y = string.byte(a, i), string.byte(b, i)
    if x ~= y then return x > y end
  end
  return #a > #b
end

local function supersedes(new, old)
  if new.cltt ~= old.cltt then return new.cltt > old.cltt end
  if new.node == old.node then return true end
  if new.expiry ~= old.expiry then
    if new.expiry == nil then return true end
    if old.expiry == nil then return false end
    return new.expiry > old.expiry
  end
  return greater(new.node, old.node)
end

local key, mode = KEYS[1], ARGV[1]
-- A key of another type (WRONGTYPE) is not a record either.
local raw = redis.pcall('GET', key)
if type(raw) ~= 'string' then raw = false end
local old = standing(raw)

if mode == 'set' then
  local new = standing(ARGV[2])
  if old and new and not supersedes(new, old) then return 0 end
  if ARGV[3] == '0' then
    redis.call('SET', key, ARGV[2])
  else
    redis.call('SET', key, ARGV[2], 'EX', ARGV[3])
  end
  return 1
end

if mode == 'del' or mode == 'forget' then
  local ended = tonumber(ARGV[2])
  if ended == nil then return redis.error_reply('aae: bad cltt ' .. tostring(ARGV[2])) end
  if old and old.cltt > ended then return 0 end
  redis.call('DEL', key)
  if mode == 'forget' then return raw end
  return 1
end

return redis.error_reply('aae: unknown mode ' .. tostring(mode))
