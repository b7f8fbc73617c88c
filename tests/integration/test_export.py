"""Export and diagrams as code over real HTTP through the gateway (issue 12 §3): export.png
(rendered from the same SVG as export.svg, checked by rendering that SVG here with the same
library and comparing the bytes, and by reading pixels at known points), ?token= on every
export, Mermaid import (one atomic block of versions, laid out beside existing content, errors
with line and column) and export.mmd, and the round trip between them.
"""

import ctypes
import os
import struct
import tempfile
import threading
import urllib.parse
import uuid

import pytest

from flowstate.api import request
from helpers import api, base_or_default, new_user
import wsclient
# The private cluster with small canvas limits (FLOWSTATE_MAX_SHAPES=12) of the limit tests.
from test_commit_batch import limited, limited_canvas  # noqa: F401 (a fixture)


def call(user, method, path, body=None, base=None):
	return api(method, "/api/v1" + path, body, token=user.token, base=base)


def canvas_of(owner):
	status, ws = call(owner, "POST", "/workspaces", {"name": "export"})
	assert status == 201, (status, ws)
	status, c = call(owner, "POST", "/workspaces/%s/canvases" % ws["id"], {"name": "board"})
	assert status == 201, (status, c)
	return ws["id"], c["id"]


def add_member(owner, ws, user, role):
	status, body = call(owner, "POST", "/workspaces/%s/members" % ws,
			    {"email": user.email, "role": role})
	assert status == 201, (status, body)


def commit(user, cid, payload, op_type="create_shape"):
	status, op = call(user, "POST", "/canvases/%s/operations" % cid,
			  {"type": op_type, "payload": payload, "client_op_id": str(uuid.uuid4())})
	assert status == 201, (status, op)
	return op


def get(user, path, token_in_query=False, base=None):
	"""A GET with the token in the header or, as a download link has it, in ?token=."""
	url = base_or_default(base) + "/api/v1" + path
	headers = {}
	if token_in_query:
		url += ("&" if "?" in url else "?") + "token=" + urllib.parse.quote(user.token)
	elif user is not None:
		headers["Authorization"] = "Bearer " + user.token
	return request("GET", url, headers=headers, timeout=60)


def post_text(user, path, text, content_type="text/plain; charset=utf-8", base=None):
	headers = {"Authorization": "Bearer " + user.token}
	if content_type:
		headers["Content-Type"] = content_type
	resp = request("POST", base_or_default(base) + "/api/v1" + path,
		       body=text.encode() if isinstance(text, str) else text, headers=headers,
		       timeout=60)
	return resp.status, resp.json()


# ---------------------------------------------------------------------------------------------
# librsvg and cairo through ctypes: the same libraries the node renders with.

class RsvgRectangle(ctypes.Structure):
	_fields_ = [("x", ctypes.c_double), ("y", ctypes.c_double), ("width", ctypes.c_double),
		    ("height", ctypes.c_double)]


def _libs():
	rsvg = ctypes.CDLL("librsvg-2.so.2")
	cairo = ctypes.CDLL("libcairo.so.2")
	gobject = ctypes.CDLL("libgobject-2.0.so.0")
	vp = ctypes.c_void_p
	rsvg.rsvg_handle_new_from_data.restype = vp
	rsvg.rsvg_handle_new_from_data.argtypes = [ctypes.c_char_p, ctypes.c_size_t, vp]
	rsvg.rsvg_handle_render_document.restype = ctypes.c_int
	rsvg.rsvg_handle_render_document.argtypes = [vp, vp, ctypes.POINTER(RsvgRectangle), vp]
	cairo.cairo_image_surface_create.restype = vp
	cairo.cairo_image_surface_create.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
	cairo.cairo_image_surface_create_from_png.restype = vp
	cairo.cairo_image_surface_create_from_png.argtypes = [ctypes.c_char_p]
	cairo.cairo_create.restype = vp
	cairo.cairo_create.argtypes = [vp]
	cairo.cairo_scale.argtypes = [vp, ctypes.c_double, ctypes.c_double]
	cairo.cairo_surface_flush.argtypes = [vp]
	cairo.cairo_surface_write_to_png.argtypes = [vp, ctypes.c_char_p]
	cairo.cairo_surface_write_to_png.restype = ctypes.c_int
	cairo.cairo_surface_status.argtypes = [vp]
	cairo.cairo_image_surface_get_data.restype = ctypes.POINTER(ctypes.c_ubyte)
	cairo.cairo_image_surface_get_data.argtypes = [vp]
	for f in ("get_stride", "get_width", "get_height"):
		getattr(cairo, "cairo_image_surface_" + f).argtypes = [vp]
	cairo.cairo_destroy.argtypes = [vp]
	cairo.cairo_surface_destroy.argtypes = [vp]
	gobject.g_object_unref.argtypes = [vp]
	return rsvg, cairo, gobject


def render_png_here(svg, width, height, scale):
	"""The node's pipeline (node/core/raster.c), step by step: the SVG drawn scaled into an
	ARGB32 surface of ceil(size x scale) pixels, written as PNG."""
	import math
	rsvg, cairo, gobject = _libs()
	w, h = max(1, math.ceil(width * scale)), max(1, math.ceil(height * scale))
	handle = rsvg.rsvg_handle_new_from_data(svg, len(svg), None)
	assert handle
	surface = cairo.cairo_image_surface_create(0, w, h)  # CAIRO_FORMAT_ARGB32
	cr = cairo.cairo_create(surface)
	cairo.cairo_scale(cr, scale, scale)
	assert rsvg.rsvg_handle_render_document(handle, cr,
						 ctypes.byref(RsvgRectangle(0, 0, width, height)), None)
	cairo.cairo_surface_flush(surface)
	with tempfile.NamedTemporaryFile(suffix=".png") as f:
		assert cairo.cairo_surface_write_to_png(surface, f.name.encode()) == 0
		data = open(f.name, "rb").read()
	cairo.cairo_destroy(cr)
	cairo.cairo_surface_destroy(surface)
	gobject.g_object_unref(handle)
	return data


def pixels(png):
	"""Decodes PNG bytes with cairo: (width, height, pixel(x, y) -> (a, r, g, b))."""
	_, cairo, _ = _libs()
	with tempfile.NamedTemporaryFile(suffix=".png") as f:
		f.write(png)
		f.flush()
		surface = cairo.cairo_image_surface_create_from_png(f.name.encode())
	assert cairo.cairo_surface_status(surface) == 0
	w = cairo.cairo_image_surface_get_width(surface)
	h = cairo.cairo_image_surface_get_height(surface)
	stride = cairo.cairo_image_surface_get_stride(surface)
	data = bytes(cairo.cairo_image_surface_get_data(surface)[:stride * h])
	cairo.cairo_surface_destroy(surface)

	def at(x, y):
		b, g, r, a = data[y * stride + 4 * x:y * stride + 4 * x + 4]  # native-endian ARGB32
		return (a, r, g, b)
	return w, h, at


def png_size(png):
	assert png[:8] == b"\x89PNG\r\n\x1a\n", png[:16]
	assert png[12:16] == b"IHDR"
	return struct.unpack(">II", png[16:24])


def viewbox(svg_text):
	import re
	m = re.search(r'viewBox="([^"]+)"', svg_text)
	return [float(v) for v in m.group(1).split()]


# ---------------------------------------------------------------------------------------------
# PNG export.

@pytest.fixture(scope="module")
def drawing(cluster):
	owner = new_user("png")
	ws, cid = canvas_of(owner)
	commit(owner, cid, {"shape_id": "red", "kind": "rect", "x": 0, "y": 0, "w": 100, "h": 60,
			    "style": {"fill": "#ff0000", "stroke": "#ff0000"}})
	commit(owner, cid, {"shape_id": "blue", "kind": "ellipse", "x": 150, "y": 20, "w": 80,
			    "h": 80, "style": {"fill": "#0000ff"}, "text": "Hello <PNG> & \"you\""})
	commit(owner, cid, {"shape_id": "note", "kind": "sticky", "x": 0, "y": 120, "w": 120,
			    "h": 80, "text": "two\nlines", "rotation": 15})
	commit(owner, cid, {"shape_id": "link", "kind": "connector", "x": 0, "y": 0,
			    "from": "red", "to": "blue", "text": "to"})
	commit(owner, cid, {"shape_id": "pen", "kind": "path", "x": 260, "y": 0,
			    "points": [[0, 0], [30, 50], [60, 10]], "style": {"width": 4}})
	return owner, ws, cid


def test_png_export_is_the_svg_export_rendered(drawing):
	owner, _, cid = drawing
	for at, scale in ((None, None), (5, 2), (2, 0.5), (5, 1.25)):
		query = "&".join(q for q in (None if at is None else "at=%d" % at,
					     None if scale is None else "scale=%g" % scale) if q)
		svg = get(owner, "/canvases/%s/export.svg?%s" % (cid, query))
		png = get(owner, "/canvases/%s/export.png?%s" % (cid, query))
		assert svg.status == 200 and png.status == 200, (svg, png)
		assert png.headers["content-type"] == "image/png"
		vb = viewbox(svg.text)
		expected = render_png_here(svg.body, vb[2], vb[3], scale or 1.0)
		assert png_size(png.body) == png_size(expected)
		assert png.body == expected, "export.png differs from export.svg rendered by librsvg"


def test_png_pixels_at_known_points(drawing):
	owner, _, cid = drawing
	svg = get(owner, "/canvases/%s/export.svg?at=1" % cid)
	png = get(owner, "/canvases/%s/export.png?at=1&scale=2" % cid)
	vb = viewbox(svg.text)
	assert vb == [-11.0, -11.0, 122.0, 82.0]
	w, h, at = pixels(png.body)
	assert (w, h) == (244, 164)
	# The red rect spans canvas (0..100, 0..60): at scale 2, pixels (22..222, 22..142).
	assert at(122, 82) == (255, 255, 0, 0)
	assert at(30, 30) == (255, 255, 0, 0)
	# Outside it, the transparent background of the SVG.
	assert at(5, 5) == (0, 0, 0, 0)
	assert at(240, 160) == (0, 0, 0, 0)
	# At version 2 the blue ellipse (centre 190, 60) is there too.
	svg = get(owner, "/canvases/%s/export.svg?at=2" % cid)
	vb = viewbox(svg.text)
	png = get(owner, "/canvases/%s/export.png?at=2" % cid)
	w, h, at = pixels(png.body)
	x, y = int(190 - vb[0]), int(60 - vb[1]) - 30  # above the label
	assert at(x, y) == (255, 0, 0, 255)


def test_png_export_is_bounded_in_pixels_and_validates_scale(drawing):
	owner, _, cid = drawing
	svg = get(owner, "/canvases/%s/export.svg" % cid)
	vb = viewbox(svg.text)
	resp = get(owner, "/canvases/%s/export.png?scale=100" % cid)
	assert resp.status == 422, resp
	body = resp.json()
	assert body["code"] == "too_large" and "pixels" in body["detail"], body
	assert "%d x %d" % (-(-vb[2] * 100 // 1), -(-vb[3] * 100 // 1)) in body["detail"], body
	for bad in ("0", "-1", "abc", "1e2", "", "101", "0.001", ".5", "2.", "nan", "inf"):
		resp = get(owner, "/canvases/%s/export.png?scale=%s" % (cid, bad))
		assert resp.status == 422 and resp.json()["code"] == "invalid_query", (bad, resp)
	resp = get(owner, "/canvases/%s/export.png?at=999" % cid)
	assert resp.status == 422 and resp.json()["code"] == "invalid_version", resp
	# An empty canvas is a 100 x 100 transparent image.
	_, empty = canvas_of(owner)
	resp = get(owner, "/canvases/%s/export.png" % empty)
	assert resp.status == 200 and png_size(resp.body) == (100, 100)


def test_a_node_without_librsvg_answers_501_for_png_and_keeps_the_other_exports(
		cluster, drawing, tmp_path):
	"""librsvg is loaded at the first PNG (node/core/raster.c). A node where it does not load
	(here: a library search path whose librsvg-2.so.2 is not a library) says so for PNG, in
	JSON with a code of its own, and still exports SVG and Mermaid."""
	owner, _, cid = drawing
	(tmp_path / "librsvg-2.so.2").write_bytes(b"not a shared object")
	node = wsclient.ExtraNode(cluster, "norsvg", {"LD_LIBRARY_PATH": str(tmp_path)}).start()
	try:
		for _ in range(2):  # the loader's failure is remembered, and answered the same
			png = get(owner, "/canvases/%s/export.png" % cid, base=node.url)
			assert png.status == 501, (png.status, png.body[:200])
			body = png.json()
			assert body["code"] == "png_unavailable" and "librsvg-2.so.2" in body["detail"], body
		assert get(owner, "/canvases/%s/export.svg" % cid, base=node.url).status == 200
		assert get(owner, "/canvases/%s/export.mmd" % cid, base=node.url).status == 200
		assert "event=export_png_unavailable" in node.log_text()
	finally:
		code = node.stop()
		assert not node.sanitizer_reports(), node.log
		assert code == 0, code


def test_exports_accept_the_token_as_a_query_parameter(drawing):
	owner, ws, cid = drawing
	outsider = new_user("png")
	viewer = new_user("png")
	add_member(owner, ws, viewer, "viewer")
	for ext in ("svg", "png", "mmd"):
		path = "/canvases/%s/export.%s" % (cid, ext)
		by_header = get(owner, path)
		by_link = get(owner, path + "?at=5", token_in_query=True)
		assert by_header.status == 200 and by_link.status == 200, (ext, by_header, by_link)
		assert by_link.body == get(owner, path + "?at=5").body
		assert get(viewer, path, token_in_query=True).status == 200
		# No token, a bad one, a non-member: 401, 401, 404.
		gateway = base_or_default(None)
		assert request("GET", gateway + "/api/v1" + path).status == 401
		assert request("GET", gateway + "/api/v1" + path + "?token=garbage").status == 401
		resp = get(outsider, path, token_in_query=True)
		assert resp.status == 404, (ext, resp)
	# Other endpoints still want the header.
	resp = request("GET", base_or_default(None) + "/api/v1/canvases/%s/state?token=%s"
		       % (cid, owner.token))
	assert resp.status == 401


# ---------------------------------------------------------------------------------------------
# Mermaid import and export.

FLOW = """flowchart LR
    %% a small process
    start([Start]) --> check{Valid?}
    check -->|yes| save[(db)]
"""

PROCESS = """graph TD
    A([Start]) --> B[Read the input]
    B --> C{Valid?}
    C -->|yes| D((Done))
    C -.->|"no, ask again"| B
    D ==> E(Archive)
    E --- F["Say #quot;bye#quot;<br>and leave"]
"""


def test_mermaid_import_appends_labelled_shapes_and_attached_connectors_in_one_block(cluster):
	owner = new_user("mmd")
	_, cid = canvas_of(owner)
	commit(owner, cid, {"shape_id": "existing", "kind": "rect", "x": 0, "y": 0, "w": 300,
			    "h": 200})
	status, body = post_text(owner, "/canvases/%s/import/mermaid" % cid, PROCESS)
	assert status == 201, body
	assert body["nodes"] == 6 and body["edges"] == 6
	assert body["operations_applied"] == 12 == len(body["operations"])
	versions = [op["version"] for op in body["operations"]]
	assert versions == list(range(2, 14)) and body["version"] == 13
	assert set(body["shape_ids"]) == set("ABCDEF")
	status, state = call(owner, "GET", "/canvases/%s/state" % cid)
	shapes = state["shapes"]
	assert len(shapes) == 13
	ids = body["shape_ids"]
	assert shapes[ids["A"]]["kind"] == "ellipse" and shapes[ids["A"]]["text"] == "Start"
	assert shapes[ids["C"]]["kind"] == "path" and shapes[ids["C"]]["text"] == "Valid?"
	assert shapes[ids["D"]]["w"] == shapes[ids["D"]]["h"]
	assert shapes[ids["F"]]["text"] == 'Say "bye"\nand leave'
	connectors = [s for s in shapes.values() if s["kind"] == "connector"]
	assert len(connectors) == 6
	ends = {(s["from"], s["to"], s["text"]) for s in connectors}
	assert (ids["C"], ids["B"], "no, ask again") in ends and (ids["A"], ids["B"], "") in ends
	# Beside the existing drawing (it ends at x = 300), never on top of it.
	for sid in ids.values():
		assert shapes[sid]["x"] >= 400, shapes[sid]
	# The export of a drawn rect without text and no connector is not part of the graph.
	mmd = get(owner, "/canvases/%s/export.mmd" % cid)
	assert mmd.status == 200 and mmd.headers["content-type"].startswith("text/plain")
	text = mmd.text
	assert text.startswith("flowchart TD\n"), text
	assert text.count("-->") + text.count("-.->") + text.count("==>") == 6, text
	assert '(("Done"))' in text and '{"Valid?"}' in text and '(["Start"])' in text
	assert '"Say #34;bye#34;<br>and leave"' in text, text


def test_mermaid_round_trip_import_of_an_export_is_the_same_labelled_graph(cluster):
	owner = new_user("mmd")
	_, first = canvas_of(owner)
	status, _ = post_text(owner, "/canvases/%s/import/mermaid" % first, PROCESS)
	assert status == 201
	text1 = get(owner, "/canvases/%s/export.mmd" % first).text
	_, second = canvas_of(owner)
	status, body = post_text(owner, "/canvases/%s/import/mermaid" % second, text1)
	assert status == 201, body
	text2 = get(owner, "/canvases/%s/export.mmd" % second).text
	assert text2 == text1
	# Importing twice into one canvas places the second copy beside the first; the export
	# then holds both graphs.
	status, body = post_text(owner, "/canvases/%s/import/mermaid" % second, text1)
	assert status == 201, body
	text3 = get(owner, "/canvases/%s/export.mmd" % second).text
	assert text3.count("\n") - 1 == 2 * (text1.count("\n") - 1)


def test_mermaid_errors_name_line_and_column(cluster):
	owner = new_user("mmd")
	_, cid = canvas_of(owner)
	path = "/canvases/%s/import/mermaid" % cid
	cases = [
		(FLOW, 4, 24, "unsupported node shape '[('"),
		("graph TD\n  A --> B\n  subgraph x\n", 3, 3, "unsupported: 'subgraph'"),
		("graph TD\nA -- no --> B\n", 2, 3, "A -->|text| B"),
		("pie title Pets\n", 1, 1, "only flowcharts"),
		("graph TD\nA[\"open", 2, 3, "unterminated quoted label"),
		("graph TD\n", 2, 1, "no nodes"),
	]
	for text, line, column, fragment in cases:
		status, body = post_text(owner, path, text)
		assert status == 422, (text, body)
		assert body["code"] == "invalid_mermaid", body
		assert (body["line"], body["column"]) == (line, column), (text, body)
		assert body["detail"].startswith("line %d, column %d: " % (line, column)), body
		assert fragment in body["detail"], (fragment, body)
	status, body = post_text(owner, path, b"graph TD\nA[\xff]")
	assert status == 422 and "invalid UTF-8" in body["detail"], body
	status, body = post_text(owner, path, "graph TD\nA", content_type="application/json")
	assert status == 415 and body["code"] == "unsupported_media_type", body
	status, body = post_text(owner, path, "graph TD\n" + "A\n" * 40000)
	assert status == 413, body
	# Nothing of any of that was committed.
	status, c = call(owner, "GET", "/canvases/%s" % cid)
	assert c["version"] == 0
	# Without a Content-Type (curl --data-binary) the body is taken as the text it is.
	status, body = post_text(owner, path, "graph TD\nA-->B", content_type=None)
	assert status == 201, body


def test_mermaid_import_roles_and_bounds(cluster):
	owner, viewer, outsider = new_user("mmd"), new_user("mmd"), new_user("mmd")
	ws, cid = canvas_of(owner)
	add_member(owner, ws, viewer, "viewer")
	path = "/canvases/%s/import/mermaid" % cid
	status, body = post_text(viewer, path, "graph TD\nA-->B")
	assert status == 403 and body["code"] == "forbidden", body
	status, body = post_text(outsider, path, "graph TD\nA-->B")
	assert status == 404, body
	# The largest diagram allowed: 500 nodes (a chain of 499 links); one more node is refused.
	chain = "graph LR\n" + "\n".join("n%d-->n%d" % (i, i + 1) for i in range(499))
	status, body = post_text(owner, path, chain)
	assert status == 201, body
	assert body["nodes"] == 500 and body["operations_applied"] == 999
	versions = [op["version"] for op in body["operations"]]
	assert versions == list(range(1, 1000))
	status, body = post_text(owner, path, chain + "\nn499-->n500")
	assert status == 422 and "more than 500 nodes" in body["detail"], body


def test_mermaid_import_is_one_block_while_others_write_and_reaches_websocket_clients(cluster):
	owner = new_user("mmd")
	_, cid = canvas_of(owner)
	stop = threading.Event()
	errors = []

	def writer():
		i = 0
		while not stop.is_set():
			try:
				commit(owner, cid, {"shape_id": "w%d" % i, "kind": "rect", "x": i, "y": 0})
			except AssertionError as e:  # 429 under the user's rate limit is fine
				if "429" not in str(e):
					errors.append(e)
			i += 1

	async def scenario():
		client = await wsclient.connect(cluster.gateway_url, cid, owner, since=0)
		threads = [threading.Thread(target=writer) for _ in range(2)]
		for t in threads:
			t.start()
		try:
			results = []
			for _ in range(3):
				results.append(post_text(owner, "/canvases/%s/import/mermaid" % cid,
							 PROCESS))
		finally:
			stop.set()
			for t in threads:
				t.join()
		head = results[-1][1]["version"]
		status, c = call(owner, "GET", "/canvases/%s" % cid)
		await client.wait_version(c["version"], timeout=30)
		await client.close()
		return results, client

	results, client = wsclient.run(scenario())
	assert not errors, errors
	delivered = {op["version"]: op for op in client.ops()}
	for status, body in results:
		assert status == 201, body
		versions = [op["version"] for op in body["operations"]]
		# One block of consecutive versions, nobody else's op inside it.
		assert versions == list(range(versions[0], versions[0] + 12)), versions
		for op in body["operations"]:
			assert delivered[op["version"]]["client_op_id"] == op["client_op_id"]


def test_mermaid_import_is_refused_whole_when_the_canvas_limits_do_not_fit_it(limited):
	base = limited.node_urls[0]
	t, cid = limited_canvas(limited)
	path = "/canvases/%s/import/mermaid" % cid
	chain = "graph TD\nA-->B\nB-->C\nC-->D"    # 4 shapes and 3 connectors: 7 ops
	status, body = post_text(t.ed, path, chain, base=base)
	assert status == 201, body
	assert [op["version"] for op in body["operations"]] == list(range(1, 8))
	# 7 more would make 14 shapes where the canvas holds 12: nothing of it is committed.
	status, body = post_text(t.ed, path, chain, base=base)
	assert status == 422 and body["code"] == "canvas_full", body
	status, c = call(t.ed, "GET", "/canvases/%s" % cid, base=base)
	assert status == 200 and c["version"] == 7, c
	status, state = call(t.ed, "GET", "/canvases/%s/state" % cid, base=base)
	assert len(state["shapes"]) == 7
	# What still fits does: a connector counts as a shape too, so 3 make 10, 2 more make 12.
	for text, versions in (("graph LR\nX-->Y", range(8, 11)), ("graph LR\nP\nQ", range(11, 13))):
		status, body = post_text(t.ed, path, text, base=base)
		assert status == 201, body
		assert [op["version"] for op in body["operations"]] == list(versions)
	status, body = post_text(t.ed, path, "graph LR\nZ", base=base)
	assert status == 422 and body["code"] == "canvas_full", body
	assert len(call(t.ed, "GET", "/canvases/%s/state" % cid, base=base)[1]["shapes"]) == 12
