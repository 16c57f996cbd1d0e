-- Writes samples of one node in the vemonitor_m8 HmapTimeSeries layout.
-- KEYS[1] hash "<node_set>_<node>", KEYS[2] its index (sorted set of seconds), KEYS[3] node set
-- ARGV[1] max_rows, ARGV[2] node set member, then pairs: <int seconds>, <JSON object>
-- Samples of a second already stored are merged (later keys win). The oldest seconds beyond
-- max_rows are removed through the index, so a write never scans the whole hash.
local hash, idx = KEYS[1], KEYS[2]
local max_rows = tonumber(ARGV[1])
local n = (#ARGV - 2) / 2
local CHUNK = 2000

local function chunked(cmd, key, list, width)
  for i = 1, #list, CHUNK * width do
    local last = math.min(i + CHUNK * width - 1, #list)
    redis.call(cmd, key, unpack(list, i, last))
  end
end

local secs = {}
for i = 1, n do secs[i] = ARGV[1 + 2 * i] end
local existing = {}
for i = 1, n, CHUNK do
  local part = redis.call('HMGET', hash, unpack(secs, i, math.min(i + CHUNK - 1, n)))
  for j = 1, #part do existing[i + j - 1] = part[j] end
end

local hargs, zargs = {}, {}
for i = 1, n do
  local json = ARGV[2 + 2 * i]
  local old = existing[i]
  if old then
    local ok, merged = pcall(cjson.decode, old)
    if ok and type(merged) == 'table' then
      for k, v in pairs(cjson.decode(json)) do merged[k] = v end
      json = cjson.encode(merged)
    end
  end
  hargs[#hargs + 1] = secs[i]
  hargs[#hargs + 1] = json
  zargs[#zargs + 1] = secs[i]
  zargs[#zargs + 1] = secs[i]
end
chunked('HSET', hash, hargs, 2)
chunked('ZADD', idx, zargs, 2)

local len = redis.call('HLEN', hash)
if len > max_rows then
  if redis.call('ZCARD', idx) ~= len then
    -- Written by another tool (or index lost): rebuild it once, dropping non-integer fields.
    redis.call('DEL', idx)
    for _, field in ipairs(redis.call('HKEYS', hash)) do
      local s = tonumber(field)
      if s and s == math.floor(s) and tostring(s) == field then
        redis.call('ZADD', idx, s, field)
      else
        redis.call('HDEL', hash, field)
      end
    end
    len = redis.call('HLEN', hash)
  end
  local excess = len - max_rows
  if excess > 0 then
    local popped = redis.call('ZPOPMIN', idx, excess)
    local dels = {}
    for i = 1, #popped, 2 do dels[#dels + 1] = popped[i] end
    chunked('HDEL', hash, dels, 1)
    len = len - #dels
  end
end
redis.call('SADD', KEYS[3], ARGV[2])
return len
