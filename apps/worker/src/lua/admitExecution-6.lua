--[[ Decides whether an execution may take a running slot now (docs/fairness.md).
  KEYS[1] leases zset (execution id -> lease expiry ms)   KEYS[2] lease tenants hash
  KEYS[3] running hash (tenant -> count)   KEYS[4] workers zset ('<id>|<slots>' -> expiry ms)
  KEYS[5] parked hash (tenant -> parked count)   KEYS[6] parked zset of this tenant
  ARGV[1] tenant   ARGV[2] execution id   ARGV[3] queue job id   ARGV[4] now ms
  ARGV[5] lease ms   ARGV[6] weights 'tenant=w,…' (others weigh 1)   ARGV[7] cap (0: none)
  ARGV[8] '1' when the asking worker has room of its own past its slots (its overflow)
  Returns 1 when admitted (a lease counts it running), 0 when it is to be parked.
  A tenant under its share (cluster slots × its weight / the weights of the tenants
  running or parked) is admitted even past the slots, into the workers' headroom; one at
  or over it only into a free slot, or the asking worker's overflow, that no waiting
  tenant running less for its weight wants; none past the cap. Leases of a dead worker expire (at most 100 a call) and their
  counts with them. ]]
local tenant, id, jobId = ARGV[1], ARGV[2], ARGV[3]
local now, leaseMs, cap = tonumber(ARGV[4]), tonumber(ARGV[5]), tonumber(ARGV[7])
for _, dead in ipairs(redis.call("ZRANGEBYSCORE", KEYS[1], "-inf", now, "LIMIT", 0, 100)) do
  local owner = redis.call("HGET", KEYS[2], dead)
  if owner and redis.call("HINCRBY", KEYS[3], owner, -1) <= 0 then
    redis.call("HDEL", KEYS[3], owner)
  end
  redis.call("HDEL", KEYS[2], dead)
  redis.call("ZREM", KEYS[1], dead)
end
if redis.call("ZREM", KEYS[6], jobId) == 1 and redis.call("HINCRBY", KEYS[5], tenant, -1) <= 0 then
  redis.call("HDEL", KEYS[5], tenant)
end
-- Delivered again while its lease holds (a stalled job): it is counted already.
if redis.call("ZSCORE", KEYS[1], id) then
  redis.call("ZADD", KEYS[1], now + leaseMs, id)
  return 1
end
redis.call("ZREMRANGEBYSCORE", KEYS[4], "-inf", now)
local slots = 0
for _, member in ipairs(redis.call("ZRANGE", KEYS[4], 0, -1)) do
  slots = slots + (tonumber(string.match(member, "|(%d+)$")) or 0)
end
local weights = {}
for name, w in string.gmatch(ARGV[6], "([^,=]+)=([%d.]+)") do weights[name] = tonumber(w) end
local function weight(t) return weights[t] or 1 end
local mine = tonumber(redis.call("HGET", KEYS[3], tenant) or "0")
local total, active, counts = 0, 0, {}
local running = redis.call("HGETALL", KEYS[3])
for i = 1, #running, 2 do
  counts[running[i]] = tonumber(running[i + 1])
  total = total + counts[running[i]]
  active = active + weight(running[i])
end
-- Whether a waiting tenant runs less for its weight than this one: the slot is its.
local lessServedWaits = false
local parked = redis.call("HKEYS", KEYS[5])
for _, t in ipairs(parked) do
  local n = counts[t]
  if t ~= tenant and (n or 0) / weight(t) < mine / weight(tenant) then lessServedWaits = true end
  if not n then
    counts[t] = 0
    active = active + weight(t)
  end
end
if not counts[tenant] then active = active + weight(tenant) end
local admit
if cap > 0 and mine >= cap then
  admit = false
elseif slots == 0 or mine < slots * weight(tenant) / active then
  admit = true
else
  admit = (total < slots or ARGV[8] == "1") and not lessServedWaits
end
if not admit then return 0 end
redis.call("ZADD", KEYS[1], now + leaseMs, id)
redis.call("HSET", KEYS[2], id, tenant)
redis.call("HINCRBY", KEYS[3], tenant, 1)
return 1
