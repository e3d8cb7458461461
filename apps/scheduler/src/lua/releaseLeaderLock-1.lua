--[[ Deletes the leader lock if this instance still holds it.
  KEYS[1] lock key   ARGV[1] lock value '<instance id>|<epoch>'
  Returns 1 if released, 0 if another instance holds it (or nobody). ]]
if redis.call("GET", KEYS[1]) == ARGV[1] then
  return redis.call("DEL", KEYS[1])
end
return 0
