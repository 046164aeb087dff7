-- SPDX-License-Identifier: MIT
-- redis.lua: the Redis store's script (lib/stores/redis.c), built into libstreamy by
-- cmake/Embed.cmake. Every decision is one EVALSHA of it: read the user's leases and
-- limit, decide, write, all inside Redis, which runs a script alone.
--
-- KEYS[1] the user's leases, a hash: stream -> "since:renewed:expires:id:device"
--         (milliseconds in lower-case hex; expires 0 = never; id the lease id as redis.c
--         sends it, the 22 base64url characters of the UUID's bytes; device the label,
--         may be empty and may hold ':', so it comes last). So compact, a lease without
--         a device fits in the 64 bytes up to which Redis keeps a small hash as a
--         listpack. Release 0.2.0 wrote "since:renewed:expires" in decimal: such a
--         lease is read as one without id or device, and gets the id of the operation
--         that next refreshes or renews it.
-- KEYS[2] the user's own limit, when one is set.
-- ARGV[1] the operation (OP_*); ARGV[2] the time in milliseconds, or -1 for the Redis
--         server's own clock (TIME), which every client uses unless the handle has an
--         injected clock (tests).
-- Then, for acquire and renew:
--   ARGV[3] the TTL (0: none), ARGV[4] the default limit (the caller's max_streams when
--   it gave one), ARGV[5] the policy (POLICY_*), ARGV[6] '1' for shadow mode,
--   ARGV[7] the stream,
--   ARGV[8] a fresh lease id drawn by the client (as stored): used only for a new
--           lease, or for a lease that has none yet,
--   ARGV[9] renew: the lease id the caller holds ('' or absent: none),
--   ARGV[10] acquire: the device label to store ('' or absent: none; a refresh then
--           keeps the lease's own);
-- for release: ARGV[3] the stream, ARGV[4] the lease id the caller holds ('' or
-- absent: none). List and count take ARGV[1] and ARGV[2]; purge takes KEYS[1],
-- ARGV[1] and ARGV[2]. Arguments are left out from the end when they say nothing, and
-- so are the answer's session fields (answer()), which costs less to send and to read.
--
-- When every lease of a user has an expiry, the leases key gets a Redis expiry at the
-- latest of them (PEXPIRE relative to now), so an idle user's keys disappear by
-- themselves; a lease without one makes the key persistent. Invariant: the key has a
-- Redis expiry only if none of its leases lacks one.

-- The operations; redis.c sends the same characters.
local OP_ACQUIRE, OP_RENEW, OP_RELEASE = 'a', 'n', 'u'
local OP_LIST, OP_COUNT, OP_PURGE = 'l', 'c', 'p'
-- The policies: streamy_policy's values (include/streamy.h), as redis.c formats them.
local POLICY_REJECT, POLICY_EVICT_OLDEST, POLICY_EVICT_IDLE = '0', '1', '2'
-- The result of a decision: STREAMY_OK, STREAMY_LIMIT_REACHED, STREAMY_NOT_FOUND.
local RC_OK, RC_LIMIT_REACHED, RC_NOT_FOUND = 0, 1, 2

local key, op, now = KEYS[1], ARGV[1], tonumber(ARGV[2])
if now < 0 then
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- A decision's answer: an array in the order of lib/stores/answer.h, the result then
-- streamy_decision's fields, indexed by answer.h's names (from 1 here), then the
-- session's (session_answer()); a number not set is 0, a text ''.
local ANSWER_RC, ANSWER_CREATED, ANSWER_REMOVED, ANSWER_SHADOW_REFUSED = 1, 2, 3, 4
local ANSWER_ACTIVE, ANSWER_LIMIT, ANSWER_EXPIRED, ANSWER_SINCE = 5, 6, 7, 8
local ANSWER_EXPIRES, ANSWER_RETRY, ANSWER_EVICTED = 9, 10, 11
local function answer(rc)
  local a = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, ''}
  a[ANSWER_RC] = rc
  return a
end

-- The answer with its session fields (nil: not set) after ANSWER_EVICTED, in answer.h's
-- order (ANSWER_LEASE_ID, ANSWER_DEVICE, ANSWER_EVICTED_LEASE_ID, ANSWER_EVICTED_DEVICE,
-- ANSWER_STALE), up to the last one set: the client reads a field left out as not set.
local function session_answer(a, id, device, evicted_id, evicted_device, stale)
  local f = {id or '', device or '', evicted_id or '', evicted_device or '', stale or 0}
  local last = 0
  for i = 1, 5 do
    if f[i] ~= '' and f[i] ~= 0 then last = i end
  end
  for i = 1, last do a[ANSWER_EVICTED + i] = f[i] end
  return a
end

-- A value's since, renewed and expires, and the position just after them (past the end
-- of a value of release 0.2.0, which has no id or device); or an error reply as the
-- first value. The id and the device are cut out only when needed (session()): most
-- leases a decision reads need neither.
local function parse(v)
  local s, r, e, at = string.match(v, '^(%x+):(%x+):(%x+)()')
  if s and at > #v then -- release 0.2.0: decimal
    s, r, e = string.match(v, '^(%d+):(%d+):(%d+)$')
    if s then return tonumber(s), tonumber(r), tonumber(e), at end
  elseif s and string.find(v, '^:[%w%-_]*:', at) then
    return tonumber(s, 16), tonumber(r, 16), tonumber(e, 16), at
  end
  return redis.error_reply('streamy: malformed lease in ' .. key)
end

-- The id and the device of value v, parsed (parse()) up to `at`.
local function session(v, at)
  if at > #v then return '', '' end
  local _, colon = string.find(v, '^:[%w%-_]*:', at)
  return string.sub(v, at + 1, colon - 1), string.sub(v, colon + 1)
end

local function pack(s, r, e, id, d)
  return string.format('%x:%x:%x:%s:%s', s, r, e, id, d)
end

local function hdel(list)
  for i = 1, #list, 1000 do
    redis.call('HDEL', key, unpack(list, i, math.min(i + 999, #list)))
  end
end

-- The user's leases: the active ones in arrays (sc.cur: the index of `stream`), the
-- expired ones deleted and counted.
local function scan(stream)
  local all = redis.call('HGETALL', key)
  local sc = {n = {}, s = {}, r = {}, e = {}, v = {}, at = {}, expired = {}, zero = false}
  for i = 1, #all, 2 do
    local s, r, e, at = parse(all[i + 1])
    if type(s) == 'table' then return s end
    if e == 0 then sc.zero = true end
    if e ~= 0 and e <= now then
      sc.expired[#sc.expired + 1] = all[i]
    else
      local k = #sc.n + 1
      sc.n[k], sc.s[k], sc.r[k], sc.e[k] = all[i], s, r, e
      sc.v[k], sc.at[k] = all[i + 1], at
      if all[i] == stream then sc.cur = k end
    end
  end
  hdel(sc.expired)
  return sc
end

-- The Redis expiry of the key once lease `skip` is gone and `extra` is written.
local function set_ttl(sc, skip, extra)
  local zero, max = extra == 0, extra
  for i = 1, #sc.n do
    if i ~= skip and i ~= sc.cur then
      if sc.e[i] == 0 then zero = true elseif sc.e[i] > max then max = sc.e[i] end
    end
  end
  if zero then
    if not sc.zero then redis.call('PERSIST', key) end
  else
    redis.call('PEXPIRE', key, max - now)
  end
end

local function limit_of()
  local l = redis.call('GET', KEYS[2])
  if l then return tonumber(l) end
  return tonumber(ARGV[4])
end

-- The id and device of lease k.
local function session_of(sc, k) return session(sc.v[k], sc.at[k]) end

-- An id for a lease being refreshed or renewed: its own, or the fresh one if it has none.
local function keep(id)
  if id ~= '' then return id end
  return ARGV[8]
end

if op == OP_ACQUIRE then
  local ttl, policy, stream, device = tonumber(ARGV[3]), ARGV[5], ARGV[7], ARGV[10] or ''
  local limit, sc = limit_of(), scan(stream)
  if sc.err then return sc end
  local active, expires = #sc.n, 0
  if ttl > 0 then expires = now + ttl end
  if sc.cur then
    local id, d = session_of(sc, sc.cur)
    id = keep(id)
    if device == '' then device = d end
    redis.call('HSET', key, stream, pack(sc.s[sc.cur], now, expires, id, device))
    set_ttl(sc, 0, expires)
    local a = answer(RC_OK)
    a[ANSWER_ACTIVE], a[ANSWER_LIMIT], a[ANSWER_EXPIRED] = active, limit, #sc.expired
    a[ANSWER_SINCE], a[ANSWER_EXPIRES] = sc.s[sc.cur], expires
    return session_answer(a, id, device)
  end
  local victim, shadow_refused = nil, 0
  if active >= limit then
    if policy ~= POLICY_REJECT and limit > 0 and active == limit then
      -- Evict the lease started first, or renewed least recently; ties: the smaller id.
      local by = sc.s -- POLICY_EVICT_OLDEST
      if policy == POLICY_EVICT_IDLE then by = sc.r end
      victim = 1
      for i = 2, active do
        if by[i] < by[victim] or (by[i] == by[victim] and sc.n[i] < sc.n[victim]) then
          victim = i
        end
      end
    elseif ARGV[6] == '1' then
      shadow_refused = 1
    else
      -- The (active - limit + 1)-th earliest expiry: when one more fits by itself.
      local retry, v = 0, {}
      if limit > 0 then
        for i = 1, active do if sc.e[i] ~= 0 then v[#v + 1] = sc.e[i] end end
        local k = active - limit + 1
        if k <= #v then table.sort(v) retry = v[k] end
      end
      local a = answer(RC_LIMIT_REACHED)
      a[ANSWER_ACTIVE], a[ANSWER_LIMIT], a[ANSWER_EXPIRED] = active, limit, #sc.expired
      a[ANSWER_RETRY] = retry
      return a
    end
  end
  local a, evicted_id, evicted_device = answer(RC_OK), nil, nil
  if victim then
    a[ANSWER_EVICTED] = sc.n[victim]
    evicted_id, evicted_device = session_of(sc, victim)
    redis.call('HDEL', key, sc.n[victim])
    active = active - 1
  end
  redis.call('HSET', key, stream, pack(now, now, expires, ARGV[8], device))
  set_ttl(sc, victim or 0, expires)
  a[ANSWER_CREATED], a[ANSWER_SHADOW_REFUSED] = 1, shadow_refused
  a[ANSWER_ACTIVE], a[ANSWER_LIMIT], a[ANSWER_EXPIRED] = active + 1, limit, #sc.expired
  a[ANSWER_SINCE], a[ANSWER_EXPIRES] = now, expires
  return session_answer(a, ARGV[8], device, evicted_id, evicted_device)
elseif op == OP_RENEW then
  local ttl, stream, held = tonumber(ARGV[3]), ARGV[7], ARGV[9] or ''
  local limit, sc = limit_of(), scan(stream)
  if sc.err then return sc end
  local a = answer(RC_NOT_FOUND)
  a[ANSWER_ACTIVE], a[ANSWER_LIMIT], a[ANSWER_EXPIRED] = #sc.n, limit, #sc.expired
  if not sc.cur then return a end
  local id, d = session_of(sc, sc.cur)
  -- Another session holds the stream now (a lease of 0.2.0, without id, is another).
  if held ~= '' and id ~= held then return session_answer(a, nil, nil, nil, nil, 1) end
  local expires = 0
  id = keep(id)
  if ttl > 0 then expires = now + ttl end
  redis.call('HSET', key, stream, pack(sc.s[sc.cur], now, expires, id, d))
  set_ttl(sc, 0, expires)
  a[ANSWER_RC], a[ANSWER_SINCE], a[ANSWER_EXPIRES] = RC_OK, sc.s[sc.cur], expires
  return session_answer(a, id, d)
elseif op == OP_RELEASE then
  local stream, held = ARGV[3], ARGV[4] or ''
  local v = redis.call('HGET', key, stream)
  local a = answer(RC_OK)
  if not v then return a end
  local s, r, e, at = parse(v)
  if type(s) == 'table' then return s end
  local id, d = session(v, at)
  local expired = e ~= 0 and e <= now
  -- An expired lease is nobody's; an unexpired one of another session stays.
  if not expired and held ~= '' and id ~= held then
    return session_answer(a, nil, nil, nil, nil, 1)
  end
  redis.call('HDEL', key, stream)
  -- The lease without expiry kept the key persistent: maybe it may expire now.
  if e == 0 then
    local max = 0
    for _, w in ipairs(redis.call('HVALS', key)) do
      local s2, r2, e2 = parse(w)
      if type(s2) == 'table' then return s2 end
      if e2 == 0 then max = -1 break end
      if e2 > max then max = e2 end
    end
    if max > now then redis.call('PEXPIRE', key, max - now) end
  end
  if expired then
    a[ANSWER_EXPIRED] = 1
    return a
  end
  a[ANSWER_REMOVED] = 1
  return session_answer(a, id, d)
elseif op == OP_LIST or op == OP_COUNT then
  -- The unexpired leases, six values each (redis.c sorts them), or their number.
  local all, out, n = redis.call('HGETALL', key), {}, 0
  for i = 1, #all, 2 do
    local s, r, e, at = parse(all[i + 1])
    if type(s) == 'table' then return s end
    if e == 0 or e > now then
      n = n + 1
      if op == OP_LIST then
        local id, d = session(all[i + 1], at)
        local k = #out
        out[k + 1], out[k + 2], out[k + 3] = all[i], s, r
        out[k + 4], out[k + 5], out[k + 6] = e, id, d
      end
    end
  end
  if op == OP_COUNT then return n end
  return out
elseif op == OP_PURGE then
  local sc = scan(nil)
  if sc.err then return sc end
  return #sc.expired
end
return redis.error_reply('streamy: unknown operation ' .. tostring(op))
