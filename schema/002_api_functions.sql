-- Helpers used by the node's statements to build JSON responses inside Postgres.

-- Timestamps in API responses: RFC 3339 in UTC with milliseconds, whatever the session's
-- TimeZone setting is.
CREATE FUNCTION fs_ts(t timestamptz) RETURNS text
LANGUAGE sql IMMUTABLE PARALLEL SAFE
AS $$ SELECT to_char(t AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') $$;
