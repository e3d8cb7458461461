--[[ Ends an execution's lease and picks parked queue jobs to promote into free slots.
  KEYS[1] leases zset   KEYS[2] lease tenants hash   KEYS[3] running hash
  KEYS[4] workers zset   KEYS[5] parked hash (tenant -> parked count)
  ARGV[1] execution id ('' to release nothing)   ARGV[2] now ms   ARGV[3] weights
  ARGV[4] cap (0: none)   ARGV[5] parked zset key prefix (a tenant id follows it)
  ARGV[6] most jobs to promote
  Returns the queue job ids to promote, taken off their parked zsets: one per free slot
  (slots minus running), and at least one when a lease ended (its queue slot is free,
  though overflow may keep the running past the slots), each from the parked tenant with
  the least running per weight that is under the cap. A promoted job is admitted, or
  parked again, on delivery. ]]
local id, now, cap, most = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[4]), tonumber(ARGV[6])
local ended = id ~= "" and redis.call("ZREM", KEYS[1], id) == 1
if ended then
  local owner = redis.call("HGET", KEYS[2], id)
  if owner and redis.call("HINCRBY", KEYS[3], owner, -1) <= 0 then
    redis.call("HDEL", KEYS[3], owner)
  end
  redis.call("HDEL", KEYS[2], id)
end
local parked = redis.call("HGETALL", KEYS[5])
if #parked == 0 then return {} end
redis.call("ZREMRANGEBYSCORE", KEYS[4], "-inf", now)
local slots = 0
for _, member in ipairs(redis.call("ZRANGE", KEYS[4], 0, -1)) do
  slots = slots + (tonumber(string.match(member, "|(%d+)$")) or 0)
end
local weights = {}
for name, w in string.gmatch(ARGV[3], "([^,=]+)=([%d.]+)") do weights[name] = tonumber(w) end
local running, total = {}, 0
local all = redis.call("HGETALL", KEYS[3])
for i = 1, #all, 2 do
  running[all[i]] = tonumber(all[i + 1])
  total = total + running[all[i]]
end
local promoted = {}
local free = math.min(math.max(slots - total, ended and 1 or 0), most)
local waiting = {}
for i = 1, #parked, 2 do waiting[parked[i]] = tonumber(parked[i + 1]) end
while free > 0 do
  local best, bestLoad
  for t, n in pairs(waiting) do
    local r = running[t] or 0
    local load = r / (weights[t] or 1)
    if n > 0 and (cap == 0 or r < cap) and (best == nil or load < bestLoad) then
      best, bestLoad = t, load
    end
  end
  if best == nil then break end
  local popped = redis.call("ZPOPMIN", ARGV[5] .. best)
  if #popped == 0 then
    redis.call("HDEL", KEYS[5], best)
    waiting[best] = nil
  else
    promoted[#promoted + 1] = popped[1]
    waiting[best] = waiting[best] - 1
    running[best] = (running[best] or 0) + 1
    if redis.call("HINCRBY", KEYS[5], best, -1) <= 0 then redis.call("HDEL", KEYS[5], best) end
    free = free - 1
  end
end
return promoted
