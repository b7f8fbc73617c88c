"""Per-user rate limit (DESIGN §7): one token bucket per user per node, shared by REST and
WebSocket writes and by all of the user's connections."""

from helpers import add_member, create_canvas, create_workspace, new_user, post_op, rect
from wsclient import ExtraNode, connect, run


def create(base, user, canvas_id, shape_id):
	return post_op(canvas_id, user, "create_shape", rect(shape_id), base=base)


def test_a_user_past_the_per_user_limit_gets_429_on_rest_and_rate_limited_on_websocket(cluster):
	node = ExtraNode(cluster, "ratelimited", {"FLOWSTATE_USER_OPS_PER_SECOND": "1",
						  "FLOWSTATE_USER_OPS_BURST": "3"}).start()
	try:
		owner = new_user("rl")
		other = new_user("rl-other")
		ws_id = create_workspace(owner)["id"]
		add_member(owner, ws_id, other, "editor")
		canvas = create_canvas(owner, ws_id)["id"]
		statuses = [create(node.url, owner, canvas, "s%d" % i)[0] for i in range(6)]
		assert statuses[:3] == [201, 201, 201], statuses
		assert 429 in statuses[3:], statuses
		status, body = create(node.url, owner, canvas, "late")
		if status == 429:
			assert body["code"] == "rate_limited" and "per user" in body["detail"], body
		# Another user has a budget of its own.
		assert create(node.url, other, canvas, "other")[0] == 201

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
