--[[ Extends the leader lock if this instance still holds it.
  KEYS[1] lock key   ARGV[1] lock value '<instance id>|<epoch>'   ARGV[2] ttl ms
  Returns 1 if extended, 0 if another instance holds it (or nobody). ]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("PEXPIRE", KEYS[1], ARGV[2])
end
return 0
