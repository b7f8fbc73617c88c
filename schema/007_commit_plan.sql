-- Every lookup in fs_commit_ops is by key (the canvas row, a member row, client op ids, the
-- versions after a head). With statistics gathered while operations was nearly empty, the
-- planner (and plpgsql's cached plans) chose sequential scans, and a fresh canvas committed
-- 3-4x slower until autovacuum caught up (measured by scripts/bench ws). Index access is
-- right at every table size here, so the function asks for it.
ALTER FUNCTION fs_commit_ops(uuid, jsonb, bigint, jsonb) SET enable_seqscan = off;
