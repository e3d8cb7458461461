--[[ Takes the leader lock if nobody holds it, with a new fencing epoch.
  KEYS[1] lock key   KEYS[2] epoch counter
  ARGV[1] instance id   ARGV[2] ttl ms
  Returns the new epoch, or 0 if another instance holds the lock.
  The lock's value is '<instance id>|<epoch>', so renew and release by an instance
  that lost and retook the lock cannot act on a newer holding. ]]
if redis.call("EXISTS", KEYS[1]) == 1 then
  return 0
end
local epoch = redis.call("INCR", KEYS[2])
redis.call("SET", KEYS[1], ARGV[1] .. "|" .. epoch, "PX", ARGV[2])
return epoch
