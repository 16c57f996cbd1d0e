-- Aggregates closed, epoch-aligned windows of every node into archive hashes.
-- Call: EVALSHA <sha> 0 <node_set> <hash_prefix> <key_prefix> <level> <window s> <from level or ""> \
--       <from window s> <now s> <grace s> <archive ttl s> <max windows>
-- For each window start W (a multiple of the window length) with W + window + grace <= now,
-- not yet aggregated (state in "<prefix>archive:state"), and each node with data in it:
--   HSET <prefix>archive:<level>:<W>:<node>  <col>_min/_max/_sum/_count/_avg, timestamp, count
--   EXPIRE ... <ttl>;  RPUSH <prefix>archive:pending <JSON record>
-- A level with a "from" level rolls up exactly the finer windows inside it, once they exist.
-- Optional hints after the 11 arguments: groups of <W> <node> <seconds> <C> then C columns as
-- name count min max sum: statistics the gateway kept while writing. A hint is used only when
-- <seconds> equals the number of stored seconds of the window (ZCOUNT on the node's index), so
-- a restart, a trimmed or merged second or another writer falls back to decoding the samples.
-- Returns { windows written, 1 if more windows remain (catch-up is bounded per call) }.
-- Not cluster-safe: keys are derived from the node set (single-instance Redis, as on a gateway).
-- Leader fencing (several gateways on one Redis): with KEYS[1] the leader lock and KEYS[2] the
-- caller's id, the script refuses ({ -1, 0 }) unless the lock still names the caller.
if #KEYS >= 2 and redis.call('GET', KEYS[1]) ~= KEYS[2] then return { -1, 0 } end
local set, hashprefix, prefix, level = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local win, from, fromwin = tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local now, grace, ttl, maxw = tonumber(ARGV[8]), tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])

local hints, at = {}, 12
while at <= #ARGV do
  local w, node, secs, ncols = ARGV[at], ARGV[at + 1], tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3])
  at = at + 4
  local stats, order = {}, {}
  for _ = 1, ncols do
    local col = ARGV[at]
    stats[col] = { tonumber(ARGV[at + 1]), tonumber(ARGV[at + 2]), tonumber(ARGV[at + 3]),
      tonumber(ARGV[at + 4]) }
    order[#order + 1] = col
    at = at + 5
  end
  hints[w .. ':' .. node] = { secs = secs, stats = stats, order = order }
end
local statekey = prefix .. 'archive:state'
local pending = prefix .. 'archive:pending'

local closable = math.floor((now - grace) / win) * win - win
if from ~= '' then
  local fromlast = tonumber(redis.call('HGET', statekey, from))
  if not fromlast then return { 0, 0 } end
  local limit = math.floor((fromlast + fromwin) / win) * win - win
  if limit < closable then closable = limit end
end
local last = tonumber(redis.call('HGET', statekey, level))
-- A state over a day (STATE_AHEAD_S in src/store/windows.ts) beyond the clock: the clock was
-- followed back, start again at the clock.
if last and last > closable + 86400 then last = nil end
local first = last and (last + win) or closable
if first > closable then return { 0, 0 } end
local stop = math.min(closable, first + (maxw - 1) * win)

-- Lua 5.1 prints numbers with %.14g: what cjson keeps too.
local fmt = tostring

-- Percentiles (the gateway writes the list to <prefix>archive:config): exact over a window's
-- stored seconds, interpolated between the closest ranks; a rollup reads its raw seconds back
-- and marks them approximate when some are gone (then from the finer windows' percentiles).
local pcts = {}
for q in string.gmatch(redis.call('HGET', prefix .. 'archive:config', 'percentiles') or '', '[^,]+') do
  pcts[#pcts + 1] = tonumber(q)
end
local wantp = #pcts > 0
local function pct(sorted, q)
  local rank = (q / 100) * (#sorted - 1)
  local lo, hi = math.floor(rank), math.ceil(rank)
  return sorted[lo + 1] + (sorted[hi + 1] - sorted[lo + 1]) * (rank - lo)
end
local function keep(raw, k, x)
  local r = raw[k]
  if not r then r = {}; raw[k] = r end
  r[#r + 1] = x
end

local members = redis.call('SMEMBERS', set)
local skip = #hashprefix + 2
local written = 0
-- Per-column stats are arrays {count, min, max, sum}: cheaper than named fields in Lua.
for w = first, stop, win do
  local fields = {}
  if from == '' or wantp then
    for s = w, w + win - 1 do fields[#fields + 1] = s end
  end
  for _, member in ipairs(members) do
    local node = string.sub(member, skip)
    local stats, order, raw, pw = {}, {}, {}, {}
    local hint = not wantp and from == '' and hints[w .. ':' .. node]
    if hint and redis.call('ZCOUNT', member .. ':idx', w, w + win - 1) == hint.secs then
      -- The gateway saw every stored second of this window: no sample needs decoding.
      stats, order = hint.stats, hint.order
    elseif from == '' then
      for i = 1, #fields, 2000 do
        local vals = redis.call('HMGET', member, unpack(fields, i, math.min(i + 1999, #fields)))
        for j = 1, #vals do
          local v = vals[j]
          if v then
            local ok, obj = pcall(cjson.decode, v)
            if ok and type(obj) == 'table' then
              for k, x in pairs(obj) do
                if type(x) == 'number' then
                  local st = stats[k]
                  if st then
                    st[1] = st[1] + 1
                    if x < st[2] then st[2] = x end
                    if x > st[3] then st[3] = x end
                    st[4] = st[4] + x
                  else
                    stats[k] = { 1, x, x, x }
                    order[#order + 1] = k
                  end
                  if wantp then keep(raw, k, x) end
                end
              end
            end
          end
        end
      end
    else
      for s = w, w + win - fromwin, fromwin do
        local h = redis.call('HGETALL', prefix .. 'archive:' .. from .. ':' .. s .. ':' .. node)
        local sub, subp = {}, {}
        for i = 1, #h, 2 do
          local col, kind = string.match(h[i], '^(.+)_(%a+)$')
          if col and (kind == 'min' or kind == 'max' or kind == 'sum' or kind == 'count') then
            sub[col] = sub[col] or {}
            sub[col][kind] = tonumber(h[i + 1])
          end
          local pcol, q = string.match(h[i], '^(.+)_p(%d+)$')
          if pcol then
            subp[pcol] = subp[pcol] or {}
            subp[pcol][tonumber(q)] = tonumber(h[i + 1])
          end
        end
        for col, t in pairs(sub) do
          if t.count and t.min and t.max and t.sum then
            local st = stats[col]
            if st then
              st[1] = st[1] + t.count
              if t.min < st[2] then st[2] = t.min end
              if t.max > st[3] then st[3] = t.max end
              st[4] = st[4] + t.sum
            else
              stats[col] = { t.count, t.min, t.max, t.sum }
              order[#order + 1] = col
            end
            for _, q in ipairs(pcts) do
              local p = subp[col] and subp[col][q]
              if p then
                pw[col] = pw[col] or {}
                local acc = pw[col][q] or { 0, 0 }
                acc[1] = acc[1] + p * t.count
                acc[2] = acc[2] + t.count
                pw[col][q] = acc
              end
            end
          end
        end
      end
      if wantp then
        -- The rollup's raw seconds, for exact percentiles while they are all still stored.
        for i = 1, #fields, 2000 do
          local vals = redis.call('HMGET', member, unpack(fields, i, math.min(i + 1999, #fields)))
          for j = 1, #vals do
            local ok, obj = pcall(cjson.decode, vals[j] or '')
            if vals[j] and ok and type(obj) == 'table' then
              for k, x in pairs(obj) do
                if type(x) == 'number' then keep(raw, k, x) end
              end
            end
          end
        end
      end
    end
    if #order > 0 then
      table.sort(order)
      local key = prefix .. 'archive:' .. level .. ':' .. w .. ':' .. node
      local args, rec, total = { 'timestamp', w }, {}, 0
      for _, col in ipairs(order) do
        local st = stats[col]
        local avg = st[4] / st[1]
        if st[1] > total then total = st[1] end
        args[#args + 1] = col .. '_min'; args[#args + 1] = fmt(st[2])
        args[#args + 1] = col .. '_max'; args[#args + 1] = fmt(st[3])
        args[#args + 1] = col .. '_sum'; args[#args + 1] = fmt(st[4])
        args[#args + 1] = col .. '_count'; args[#args + 1] = st[1]
        args[#args + 1] = col .. '_avg'; args[#args + 1] = fmt(avg)
        rec[col] = { count = st[1], min = st[2], max = st[3], sum = st[4], avg = avg }
        if wantp then
          local r = raw[col]
          local exact = r ~= nil and #r == st[1]
          if r then table.sort(r) end
          local any = false
          for _, q in ipairs(pcts) do
            local val
            local acc = pw[col] and pw[col][q]
            if exact then val = pct(r, q)
            elseif acc and acc[2] > 0 then val = acc[1] / acc[2]
            elseif r and #r > 0 then val = pct(r, q) end
            if val then
              any = true
              args[#args + 1] = col .. '_p' .. q; args[#args + 1] = fmt(val)
              rec[col]['p' .. q] = val
            end
          end
          if any and not exact then
            args[#args + 1] = col .. '_approx'; args[#args + 1] = 1
            rec[col].approx = true
          end
        end
      end
      args[#args + 1] = 'count'; args[#args + 1] = total
      redis.call('HSET', key, unpack(args))
      redis.call('EXPIRE', key, ttl)
      redis.call('RPUSH', pending, cjson.encode({
        level = level, node = node, start = w * 1000, ['end'] = (w + win) * 1000, stats = rec,
      }))
      written = written + 1
    end
  end
end
redis.call('HSET', statekey, level, stop)
return { written, stop < closable and 1 or 0, stop }
