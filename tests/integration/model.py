"""The canvas model in Python, for the tests: the one reducer oracle, the canonical form, and
random valid ops.

The reducer is written from docs/canvas-model.md §1-§3, not derived from the C (a shared
misreading would hide a bug), and matches canvas_apply (common/model/canvas.c): the tests compare
it with what the server computes (GET /state, snapshots, sync states). It takes committed ops,
which are valid and normalized (a create_shape payload is a complete shape); numbers are compared
as floats because jsonb may print 1.0 as 1.
"""

import copy
import json
import re

# ---------------------------------------------------------------------------------------------
# The reducer.

SHAPE_DEFAULTS = {
	"w": 0.0, "h": 0.0, "rotation": 0.0, "z": 0.0,
	"style": {"stroke": "#000000", "fill": "none", "width": 1.0, "opacity": 1.0},
	"text": "", "points": [], "from": None, "to": None,
}


def floats(value):
	"""Every number as a float (the model has no integers; jsonb may print 1.0 as 1)."""
	if isinstance(value, bool):
		return value
	if isinstance(value, (int, float)):
		return float(value)
	if isinstance(value, dict):
		return {k: floats(v) for k, v in value.items()}
	if isinstance(value, list):
		return [floats(v) for v in value]
	return value


def apply_op(state, type_, payload):
	"""Applies one (committed, so valid and normalized) op to state {id: shape} in place.
	Returns True when it changed something that existed (or created)."""
	payload = floats(payload)
	sid = payload["shape_id"]
	if type_ == "create_shape":
		shape = copy.deepcopy(SHAPE_DEFAULTS)
		for k, v in payload.items():
			if k == "shape_id":
				continue
			if k == "style":
				shape["style"].update(v)
			else:
				shape[k] = v
		shape["id"] = sid
		state[sid] = shape  # a second create replaces
		return True
	if sid not in state:
		return False  # an op on a missing shape is a no-op that still holds its version
	shape = dict(state[sid])
	if type_ == "move_shape":
		shape["x"], shape["y"] = payload["x"], payload["y"]
	elif type_ == "resize_shape":
		for k in ("x", "y", "w", "h"):
			shape[k] = payload[k]
	elif type_ == "update_shape":
		for k, v in payload.items():
			if k == "shape_id":
				continue
			if k == "style":
				style = dict(shape["style"])
				style.update(v)  # merged key by key
				shape["style"] = style
			else:
				shape[k] = v  # text and points replaced whole
	elif type_ == "delete_shape":
		del state[sid]
		return True
	else:
		raise AssertionError("unknown op type in the log: %r" % type_)
	state[sid] = shape
	return True


def canonical(value):
	"""docs/canvas-model.md §4: the canonical serialization of a state, reproduced in Python."""
	if isinstance(value, float):
		s = '%.17g' % value
		if '.' not in s and 'e' not in s:
			s += '.0'
		return re.sub(r'e([+-])0*(\d)',
			      lambda m: 'e' + m.group(1).replace('+', '') + m.group(2), s)
	if isinstance(value, dict):
		return '{' + ','.join(json.dumps(k, ensure_ascii=False) + ':' + canonical(value[k])
				      for k in sorted(value)) + '}'
	if isinstance(value, list):
		return '[' + ','.join(canonical(v) for v in value) + ']'
	return json.dumps(value, ensure_ascii=False)


def replay(ops, base_state=None):
	"""The state {id: shape} after applying ops (dicts with "type" and "payload", as GET
	/operations and WebSocket messages carry them) to base_state (a state as GET /state or a
	sync message carries it; default empty), numbers as floats."""
	state = floats(copy.deepcopy(base_state or {}))
	for op in ops:
		apply_op(state, op["type"], op["payload"])
	return state


# ---------------------------------------------------------------------------------------------
# Random valid ops over a small id pool, so ops hit existing and missing shapes alike.

SHAPE_IDS = ["s0", "s1", "s2", "s3", "s4", "s5", "s6", "s7", "a:b.c-D_9",
	     "x" * 64]  # the longest allowed id
KINDS = ["rect", "ellipse", "line", "arrow", "text", "sticky", "path", "connector"]
COLOURS = ["#FFF", "#a1b2c3", "#A1B2C3D4", "none", "transparent", "#000", "#12345678"]
TEXTS = ["", "hello", "h\u00e9llo \u2713 \U0001F3A8", "line1\nline2\t\"quoted\" \\ back/slash",
	 "\u65e5\u672c\u8a9e", "x" * 300]


def rand_coord(rng):
	return rng.choice([
		rng.randint(-1000, 1000),                   # sent as a JSON integer
		round(rng.uniform(-1e6, 1e6), rng.randint(0, 6)),
		rng.uniform(-1e9, 1e9),
		0.1, -0.0, 1e9, -1e9, 1e-5, 123456789.123456789,
	])


def rand_size(rng):
	return rng.choice([rng.randint(0, 500), rng.uniform(0, 1e4), 0.0, 1e9, 0.30000000000000004])


def rand_style(rng, at_least_one):
	style = {}
	if rng.random() < 0.5:
		style["stroke"] = rng.choice(COLOURS)
	if rng.random() < 0.5:
		style["fill"] = rng.choice(COLOURS)
	if rng.random() < 0.4:
		style["width"] = rng.choice([0, 1000, rng.uniform(0, 1000), 2])
	if rng.random() < 0.4:
		style["opacity"] = rng.choice([0, 1, rng.random(), 0.5])
	if at_least_one and not style:
		style["fill"] = rng.choice(COLOURS)
	return style


def rand_points(rng):
	return [[rand_coord(rng), rand_coord(rng)] for _ in range(rng.randint(0, 5))]


def rand_optional_fields(rng, update):
	fields = {}
	if rng.random() < 0.3:
		fields["rotation"] = rng.choice([rand_coord(rng), 45, 720.5])
	if rng.random() < 0.3:
		fields["z"] = rng.choice([rng.randint(-10, 10), rand_coord(rng)])
	if rng.random() < 0.4:
		style = rand_style(rng, at_least_one=update)
		if style or not update:
			fields["style"] = style
	if rng.random() < 0.3:
		fields["text"] = rng.choice(TEXTS)
	if rng.random() < 0.2:
		fields["points"] = rand_points(rng)
	if rng.random() < 0.2:
		fields["from"] = rng.choice(SHAPE_IDS + [None])
	if rng.random() < 0.2:
		fields["to"] = rng.choice(SHAPE_IDS + [None])
	return fields


def random_op(rng):
	sid = rng.choice(SHAPE_IDS)
	type_ = rng.choices(["create_shape", "move_shape", "resize_shape", "update_shape",
			     "delete_shape"], weights=[30, 20, 15, 25, 10])[0]
	if type_ == "create_shape":
		payload = {"shape_id": sid, "kind": rng.choice(KINDS), "x": rand_coord(rng),
			   "y": rand_coord(rng)}
		if rng.random() < 0.6:
			payload["w"] = rand_size(rng)
		if rng.random() < 0.6:
			payload["h"] = rand_size(rng)
		payload.update(rand_optional_fields(rng, update=False))
	elif type_ == "move_shape":
		payload = {"shape_id": sid, "x": rand_coord(rng), "y": rand_coord(rng)}
	elif type_ == "resize_shape":
		payload = {"shape_id": sid, "x": rand_coord(rng), "y": rand_coord(rng),
			   "w": rand_size(rng), "h": rand_size(rng)}
	elif type_ == "update_shape":
		payload = {"shape_id": sid}
		payload.update(rand_optional_fields(rng, update=True))
		if len(payload) == 1:
			payload["text"] = rng.choice(TEXTS)
	else:
		payload = {"shape_id": sid}
	return type_, payload
