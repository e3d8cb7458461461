--[[ Parks a queue job the admission turned away, once it waits delayed in the queue.
  KEYS[1] parked hash (tenant -> parked count)   KEYS[2] parked zset of the tenant
  ARGV[1] tenant   ARGV[2] queue job id   ARGV[3] since when the execution waits, ms
  Returns 1 when parked, 0 when it already was. The zset's score is the wait's start,
  so the oldest parked job of a tenant is the one promoted first. ]]
if redis.call("ZADD", KEYS[2], "NX", ARGV[3], ARGV[2]) == 0 then return 0 end
redis.call("HINCRBY", KEYS[1], ARGV[1], 1)
return 1
