//! The Lua scripts that change the queue in Redis. Each runs atomically, in one round trip:
//! a batch is written whole or not at all, and a lane's jobs, the size bound and the dead
//! letters never disagree. Keys are built from the prefix inside the scripts, so the queue
//! needs one Redis server (or a primary with replicas), not a Redis Cluster.

use std::sync::LazyLock;

use redis::Script;

/// Writes a batch. ARGV: prefix, max_bytes, dedupe key ('' for none), dedupe window (ms),
/// job count, dead-letter count, dead letter to replay ('' for none), then per job queue,
/// lane, events, value, then the dead letters. Answers `{'ok', first sequence}`, `{'dup'}`
/// (the dedupe key is set), `{'full'}` or `{'gone'}` (the replayed dead letter is no more).
/// Jobs get sequence numbers from one counter and are added as stream entries `0-<seq>`, so
/// a lane's stream is in ingest order.
pub static APPEND: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = ARGV[1]
local dk = ARGV[3]
if dk ~= '' and redis.call('EXISTS', p .. 'dedupe:' .. dk) == 1 then return {'dup'} end
local n = tonumber(ARGV[5])
local nd = tonumber(ARGV[6])
local size = 0
for i = 0, n - 1 do size = size + 14 + #ARGV[8 + i * 4 + 3] end
for i = 0, nd - 1 do size = size + 8 + #ARGV[8 + n * 4 + i] end
local rid = ARGV[7]
if rid ~= '' then
  local old = redis.call('HGET', p .. 'dlq', rid)
  if not old then return {'gone'} end
  redis.call('HDEL', p .. 'dlq', rid)
  redis.call('INCRBY', p .. 'bytes', -(8 + #old))
end
local bytes = tonumber(redis.call('GET', p .. 'bytes') or '0')
if rid == '' and bytes + size > tonumber(ARGV[2]) then return {'full'} end
local last = redis.call('INCRBY', p .. 'seq', n)
local first = last - n + 1
for i = 0, n - 1 do
  local b = 8 + i * 4
  redis.call('XADD', p .. 'lane:' .. ARGV[b] .. ':' .. ARGV[b + 1], '0-' .. (first + i), 'j', ARGV[b + 3])
  redis.call('HINCRBY', p .. 'depth', ARGV[b], ARGV[b + 2])
end
for i = 0, nd - 1 do
  local id = redis.call('INCR', p .. 'dlq-next')
  redis.call('HSET', p .. 'dlq', id, ARGV[8 + n * 4 + i])
end
redis.call('INCRBY', p .. 'bytes', size)
if dk ~= '' then redis.call('SET', p .. 'dedupe:' .. dk, '1', 'PX', ARGV[4]) end
return {'ok', first}
",
    )
});

/// Takes jobs off a lane. ARGV: prefix, queue, lane, events leaving the lane, bytes delta,
/// the head job to keep ('' for none: the head's delivery state goes too), a dead letter to
/// make ('' for none), then the sequence numbers to delete. Answers the dead letter's id (0
/// for none).
pub static REMOVE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = ARGV[1]
local lane = ARGV[2] .. ':' .. ARGV[3]
local ids = {}
for i = 8, #ARGV do ids[#ids + 1] = '0-' .. ARGV[i] end
if #ids > 0 then redis.call('XDEL', p .. 'lane:' .. lane, unpack(ids)) end
if ARGV[6] ~= '' then
  redis.call('SET', p .. 'head:' .. lane, ARGV[6])
else
  redis.call('DEL', p .. 'head:' .. lane)
end
redis.call('HINCRBY', p .. 'depth', ARGV[2], 0 - tonumber(ARGV[4]))
redis.call('INCRBY', p .. 'bytes', ARGV[5])
if ARGV[7] == '' then return 0 end
local id = redis.call('INCR', p .. 'dlq-next')
redis.call('HSET', p .. 'dlq', id, ARGV[7])
return id
",
    )
});

/// A webhook's number, assigned on first use. ARGV: prefix, the webhook's name (JSON).
pub static REGISTER: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = ARGV[1]
local id = redis.call('HGET', p .. 'webhooks', ARGV[2])
if id then return tonumber(id) end
id = redis.call('INCR', p .. 'webhook-next')
redis.call('HSET', p .. 'webhooks', ARGV[2], id)
redis.call('HSET', p .. 'webhook-names', id, ARGV[2])
return id
",
    )
});

/// Removes dead letters. ARGV: prefix, then ids. Answers how many there were.
pub static PURGE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p = ARGV[1]
local n = 0
for i = 2, #ARGV do
  local old = redis.call('HGET', p .. 'dlq', ARGV[i])
  if old then
    redis.call('HDEL', p .. 'dlq', ARGV[i])
    redis.call('INCRBY', p .. 'bytes', -(8 + #old))
    n = n + 1
  end
end
return n
",
    )
});

/// A node's round of leases. ARGV: prefix, node id, lease lifetime (ms), how many lanes to
/// free, those lanes, then each other lane of the node with "1" if a delivery is in progress on
/// it. Frees the named leases that are the node's; renews its heartbeat (Redis's clock, so
/// nodes' clocks do not matter) and drops nodes silent for a lifetime; renews its leases and
/// takes free lanes up to its share (its lanes ÷ live nodes, rounded up). Answers the lanes it
/// holds and by how many that exceeds its share.
pub static LEASES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local p, me, ttl = ARGV[1], ARGV[2], tonumber(ARGV[3])
local nfree = tonumber(ARGV[4])
for i = 5, 4 + nfree do
  local k = p .. 'lease:' .. ARGV[i]
  if redis.call('GET', k) == me then redis.call('DEL', k) end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZADD', p .. 'nodes', now, me)
redis.call('ZREMRANGEBYSCORE', p .. 'nodes', '-inf', now - ttl)
local live = redis.call('ZCARD', p .. 'nodes')
local first = 5 + nfree
local n = (#ARGV - first + 1) / 2
local share = math.ceil((n + nfree) / live)
local held, free = {}, {}
for i = 0, n - 1 do
  local lane = ARGV[first + 2 * i]
  local k = p .. 'lease:' .. lane
  local holder = redis.call('GET', k)
  if holder == me then
    redis.call('PEXPIRE', k, ttl)
    held[#held + 1] = lane
  elseif not holder then
    free[#free + 1] = lane
  end
end
for _, lane in ipairs(free) do
  if #held >= share then break end
  redis.call('SET', p .. 'lease:' .. lane, me, 'PX', ttl)
  held[#held + 1] = lane
end
local over = #held - share
if over < 0 then over = 0 end
return {held, over}
",
    )
});

/// Frees a node's leases and heartbeat (it is shutting down). ARGV: prefix, node id, lanes.
pub static RELEASE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
for i = 3, #ARGV do
  local k = ARGV[1] .. 'lease:' .. ARGV[i]
  if redis.call('GET', k) == ARGV[2] then redis.call('DEL', k) end
end
redis.call('ZREM', ARGV[1] .. 'nodes', ARGV[2])
return 0
",
    )
});
