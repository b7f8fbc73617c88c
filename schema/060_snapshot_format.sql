-- A snapshot's text as the node wrote it (canvas_state_serialize's canonical form) and which
-- form that is. A node sends a snapshot's stored text as a canvas's state (a WebSocket sync,
-- GET /state at its version: no parse, no rebuild, no serialize) only when it is of the form
-- that node writes; any other snapshot, including every one written before these columns
-- existed (NULL), is parsed from `state` and rebuilt as before. Kept next to the jsonb (which
-- SQL reads: shape counts, size bounds) because printing a jsonb is not free: 60 ms for a
-- 5,000-shape state, against a few to read the text (TOAST-compressed, ~4x).
ALTER TABLE snapshots ADD COLUMN state_text text, ADD COLUMN format int;

-- fs_store_snapshot of schema/050 taking the state's text (stored as it is and as jsonb) and
-- its form: the snapshot and the size bounds are schema/050's; the text and form are set on
-- the row this call inserted (a snapshot that existed keeps what it had). The five-argument
-- form stays for nodes of the previous release during a rolling upgrade; it stores neither.
CREATE FUNCTION fs_store_snapshot(p_canvas uuid, p_version bigint, p_text text,
                                  p_shapes int, p_bytes bigint, p_format int)
RETURNS TABLE (snapshot text, inserted boolean)
LANGUAGE plpgsql
AS $$
DECLARE
	r record;
BEGIN
	SELECT s.snapshot, s.inserted INTO r
	FROM fs_store_snapshot(p_canvas, p_version, p_text::jsonb, p_shapes, p_bytes) s;
	IF r.inserted THEN
		UPDATE snapshots sn SET state_text = p_text, format = p_format
		WHERE sn.canvas_id = p_canvas AND sn.version = p_version;
	END IF;
	RETURN QUERY SELECT r.snapshot, r.inserted;
END
$$;
