#include "app/delivery.h"

#include <stdlib.h>
#include <string.h>

#include "base/clock.h"
#include "base/config.h"
#include "base/log.h"
#include "codec/bus_message.h"
#include "core/metrics.h"
#include "fanout/bus.h"
#include "fanout/room.h"
#include "store/commit.h"
#include "store/snapshot.h"

static const struct config *delivery_cfg;
static unsigned long long batches_received, comment_batches_received;

void delivery_init(const struct config *cfg)
{
	delivery_cfg = cfg;
	batches_received = comment_batches_received = 0;
}

bool delivery_wants_ops_json(const char *canvas_id)
{
	return room_has_members(canvas_id);
}

void delivery_on_committed(const struct commit_committed *c, void *arg)
{
	/* The committing node delivers to its own clients through the same ordered path as ops
	 * from other nodes (DESIGN invariant 6). */
	if (c->ops)
		room_receive_ops(c->canvas_id, c->ops);
	/* One message per batch to every other node's room (pub/sub is at-most-once: their rooms
	 * repair any loss from Postgres). */
	size_t len;
	char *text = bus_message_encode_op_texts(delivery_cfg->node_id, clock_wall_us(), c->texts,
						 c->count, &len);
	if (text)
		bus_publish(c->canvas_id, text, len);
	free(text);

	/* A batch that crosses a multiple of FLOWSTATE_SNAPSHOT_EVERY may warrant a snapshot at
	 * its last version, off the request path. */
	long long first = c->versions[0], last = c->versions[c->count - 1];
	long long every = delivery_cfg->snapshot_every;
	if ((first - 1) / every != last / every)
		snapshot_schedule(c->canvas_id, last);
	snapshot_note_commit(c->canvas_id, last);
}

void delivery_on_comment_events(const char *canvas_id, json_t *events)
{
	if (json_array_size(events) == 0)
		return;
	room_receive_comment_events(canvas_id, events);
	size_t len;
	char *text = bus_message_encode_comments(delivery_cfg->node_id, clock_wall_us(), events,
						 &len);
	if (text)
		bus_publish(canvas_id, text, len);
	free(text);
}

/* The test hook FLOWSTATE_FAULT_BUS_DROP_EVERY: every Nth batch of a stream is lost. */
static bool delivery_fault_drop(unsigned long long *counter, const char *canvas_id,
				const char *stream)
{
	int drop_every = delivery_cfg->fault_bus_drop_every;
	if (drop_every <= 0 || ++*counter % (unsigned long long)drop_every != 0)
		return false;
	log_info("fault_bus_drop", "canvas=%s stream=%s", canvas_id, stream);
	return true;
}

void delivery_on_bus_message(const char *canvas_id, const char *data, size_t len)
{
	struct bus_message m;
	if (!bus_message_decode(data, len, &m)) {
		log_warn("bus_message_invalid", "canvas=%s bytes=%zu", canvas_id, len);
		return;
	}
	/* This node's own messages come back too: it delivered them already. */
	if (!strcmp(m.node, delivery_cfg->node_id)) {
		bus_message_free(&m);
		return;
	}
	if (m.type == BUS_MESSAGE_OPS) {
		if (m.ts_us >= 0) {
			long long lag = clock_wall_us() - m.ts_us;
			if (lag >= 0)
				metrics_histogram_observe(METRIC_HIST_DELIVERY_LAG_SECONDS, lag / 1e6);
		}
		if (!delivery_fault_drop(&batches_received, canvas_id, "ops"))
			room_receive_ops(canvas_id, m.ops);
	} else if (m.type == BUS_MESSAGE_COMMENTS) {
		if (!delivery_fault_drop(&comment_batches_received, canvas_id, "comments"))
			room_receive_comment_events(canvas_id, m.events);
	} else if (m.type == BUS_MESSAGE_RELAY) {
		room_receive_relay(canvas_id, m.relay);
	}
	bus_message_free(&m);
}
