"""Per-user rate limit (DESIGN §7): one token bucket per user per node, shared by REST and
WebSocket writes and by all of the user's connections."""
import uuid

from conftest import api
from helpers import new_user
from wsclient import ExtraNode, add_member, connect, create_canvas, create_workspace, rect, run


def post_op(base, user, canvas_id, shape_id):
	return api("POST", "/api/v1/canvases/%s/operations" % canvas_id,
		   {"type": "create_shape", "client_op_id": str(uuid.uuid4()),
		    "payload": rect(shape_id)},
		   token=user.token, base=base)


def test_a_user_past_the_per_user_limit_gets_429_on_rest_and_rate_limited_on_websocket(cluster):
	node = ExtraNode(cluster, "ratelimited", {"FLOWSTATE_USER_OPS_PER_SECOND": "1",
						  "FLOWSTATE_USER_OPS_BURST": "3"}).start()
	try:
		owner = new_user("rl")
		other = new_user("rl-other")
		ws_id = create_workspace(owner)
		add_member(owner, ws_id, other, "editor")
		canvas = create_canvas(owner, ws_id)
		statuses = [post_op(node.url, owner, canvas, "s%d" % i)[0] for i in range(6)]
		assert statuses[:3] == [201, 201, 201], statuses
		assert 429 in statuses[3:], statuses
		status, body = post_op(node.url, owner, canvas, "late")
		if status == 429:
			assert body["code"] == "rate_limited" and "per user" in body["detail"], body
		# Another user has a budget of its own.
		assert post_op(node.url, other, canvas, "other")[0] == 201

		async def over_websocket():
			# The same user's socket shares the (now empty) bucket with its REST calls.
			c = await connect(node.url, canvas, owner, label="rl-ws")
			try:
				cid = await c.send_op("create_shape", rect("ws"))
				msg = await c.wait_reply(cid, 10)
				assert msg["type"] == "error" and msg["code"] == "rate_limited", msg
				assert "per user" in msg["detail"], msg
			finally:
				await c.close()
		run(over_websocket())
	finally:
		assert node.stop() == 0
