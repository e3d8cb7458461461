--[[ Takes the leader lock if nobody else holds it, with a new fencing epoch.
  KEYS[1] lock key   KEYS[2] epoch counter
  ARGV[1] instance id   ARGV[2] ttl ms   ARGV[3] newest epoch recorded in PostgreSQL
  Returns the new epoch, or 0 if another instance holds the lock.
  The new epoch is above ARGV[3] even if Redis lost the counter (restart without
  persistence, FLUSHALL), so it still fences every earlier leader. The lock's value is
  '<instance id>|<epoch>', so renew and release by an instance that lost and retook the
  lock cannot act on a newer holding.
  A lock that already names this instance is taken over with a new epoch: the caller
  asks only while it does not lead, so that holding is a leftover of its own, an acquire
  or renewal it gave up on (timed out while Redis was unreachable) that Redis ran once
  it answered again. Waiting it out would leave the service with no leader for a ttl. ]]
local held = redis.call("GET", KEYS[1])
if held and string.sub(held, 1, #ARGV[1] + 1) ~= ARGV[1] .. "|" then
  return 0
end
local epoch = redis.call("INCR", KEYS[2])
local recorded = tonumber(ARGV[3])
if epoch <= recorded then
  epoch = recorded + 1
  redis.call("SET", KEYS[2], epoch)
end
redis.call("SET", KEYS[1], ARGV[1] .. "|" .. epoch, "PX", ARGV[2])
return epoch
