-- SPDX-License-Identifier: MIT
-- http_mix.lua: wrk script for streamyctl serve: half subscribes, half unsubscribes,
-- over 100 000 users. Each thread subscribes a random (user, stream) and
-- unsubscribes it 64 subscribes later, when its answer has long arrived (a thread
-- has at most its connections' worth of requests outstanding). So the store stays
-- small, nearly every subscribe is allowed (a decision that writes) and nearly
-- every unsubscribe removes a lease.
local path = "/video-streams/subscription"
local headers = { ["Content-Type"] = "application/json" }
local users, lag = 100000, 64
local ring, n, posts, due = {}, 0, 0, nil

function init(args)
  math.randomseed(os.time() + tonumber(tostring({}):match("0x(%x+)"), 16) % 1000003)
end

local function body(u, s)
  return string.format('{"userId":"user-%d","videoStreamId":"stream-%d"}', u, s)
end

function request()
  n = n + 1
  if n % 2 == 1 then
    posts = posts + 1
    local slot = posts % lag
    due = ring[slot]
    local b = body(math.random(1, users), math.random(1, 1000000))
    ring[slot] = b
    return wrk.format("POST", path, headers, b)
  end
  local d = due or body(math.random(1, users), 0)
  due = nil
  return wrk.format("DELETE", path, headers, d)
end
