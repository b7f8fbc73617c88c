#include <criterion/criterion.h>
#include <malloc.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/validate.h"
#include "codec/ws_codec.h"

#define FIN 0x80
#define MAX_EVENTS 64

static const uint8_t test_mask[4] = { 0x37, 0xfa, 0x21, 0x3d };

/* ---- building client frames ---- */

struct wire {
	uint8_t *buf;
	size_t len, cap;
};

static void put(struct wire *w, const void *p, size_t n)
{
	if (w->len + n > w->cap) {
		w->cap = (w->len + n) * 2 + 16;
		w->buf = xrealloc(w->buf, w->cap);
	}
	memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void put_byte(struct wire *w, uint8_t b)
{
	put(w, &b, 1);
}

/* A header with a chosen length encoding: ext 0 (7-bit), 2 (16-bit) or 8 (64-bit). */
static void put_header(struct wire *w, uint8_t b0, bool masked, int ext, uint64_t len)
{
	uint8_t mask_bit = masked ? 0x80 : 0;

	put_byte(w, b0);
	if (ext == 0) {
		put_byte(w, (uint8_t)(mask_bit | len));
	} else if (ext == 2) {
		put_byte(w, mask_bit | 126);
		put_byte(w, (uint8_t)(len >> 8));
		put_byte(w, (uint8_t)len);
	} else {
		put_byte(w, mask_bit | 127);
		for (int i = 0; i < 8; i++)
			put_byte(w, (uint8_t)(len >> (56 - 8 * i)));
	}
	if (masked)
		put(w, test_mask, 4);
}

static void put_masked(struct wire *w, const void *payload, size_t len)
{
	const uint8_t *p = payload;
	for (size_t i = 0; i < len; i++)
		put_byte(w, p[i] ^ test_mask[i & 3]);
}

static int minimal_ext(size_t len)
{
	return len < 126 ? 0 : len <= 0xffff ? 2 : 8;
}

/* A masked client frame with the minimal length encoding. */
static void put_frame(struct wire *w, uint8_t b0, const void *payload, size_t len)
{
	put_header(w, b0, true, minimal_ext(len), len);
	put_masked(w, payload, len);
}

static void put_str(struct wire *w, uint8_t b0, const char *s)
{
	put_frame(w, b0, s, strlen(s));
}

static void put_close(struct wire *w, uint16_t code, const char *reason)
{
	uint8_t p[125];
	size_t rlen = strlen(reason);
	p[0] = (uint8_t)(code >> 8);
	p[1] = (uint8_t)code;
	memcpy(p + 2, reason, rlen);
	put_frame(w, FIN | WS_OP_CLOSE, p, 2 + rlen);
}

/* ---- running a decoder and recording what it says ---- */

struct recorded_event {
	enum ws_event_type type;
	uint8_t *data;
	size_t len;
	uint16_t close_code;
	char *reason;
	size_t reason_len;
};

struct run {
	struct recorded_event ev[MAX_EVENTS];
	size_t n;
	bool failed;
	uint16_t code;
	const char *why;
};

static void record(struct run *r, const struct ws_event *ev)
{
	struct recorded_event *e;

	cr_assert_lt(r->n, MAX_EVENTS);
	e = &r->ev[r->n++];
	cr_assert_not_null(ev->data);
	e->type = ev->type;
	e->len = ev->len;
	e->data = xmalloc(ev->len + 1);
	memcpy(e->data, ev->data, ev->len);
	e->data[ev->len] = '\0';
	e->close_code = ev->close_code;
	e->reason = NULL;
	if (ev->type == WS_EVENT_CLOSE) {
		cr_assert_not_null(ev->close_reason);
		cr_assert_eq(ev->close_reason[ev->close_reason_len], '\0');
		e->reason = xstrndup(ev->close_reason, ev->close_reason_len);
		e->reason_len = ev->close_reason_len;
	}
}

/*
 * Feeds one chunk the way a caller must: call again after each event with the bytes after
 * *consumed. The chunk is copied to a heap block of exactly its size so that ASan catches
 * any read past len.
 */
static void feed(struct ws_decoder *d, const uint8_t *bytes, size_t len, struct run *r)
{
	uint8_t *buf = xmalloc(len ? len : 1);
	size_t off = 0;

	memcpy(buf, bytes, len);
	while (!r->failed) {
		struct ws_event ev;
		size_t consumed = 12345;
		enum ws_decode_result res =
			ws_decoder_next(d, buf + off, len - off, &consumed, &ev, &r->code, &r->why);
		cr_assert_leq(consumed, len - off);
		off += consumed;
		if (res == WS_DECODE_ERROR) {
			r->failed = true;
			cr_assert_not_null(r->why);
		} else if (res == WS_DECODE_EVENT) {
			record(r, &ev);
		} else {
			cr_assert_eq(res, WS_DECODE_NEED_MORE);
			cr_assert_eq(off, len, "NEED_MORE must consume everything");
			break;
		}
	}
	free(buf);
}

/* Feeds bytes in chunks of `chunk` bytes (0: all at once) to a fresh decoder. */
static void run_chunked(const struct wire *w, size_t max_message, size_t chunk, struct run *r)
{
	struct ws_decoder *d = ws_decoder_new(max_message);

	memset(r, 0, sizeof(*r));
	if (chunk == 0)
		chunk = w->len ? w->len : 1;
	for (size_t off = 0; off < w->len && !r->failed; off += chunk)
		feed(d, w->buf + off, w->len - off < chunk ? w->len - off : chunk, r);
	ws_decoder_free(d);
}

static void run_free(struct run *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->ev[i].data);
		free(r->ev[i].reason);
	}
	r->n = 0;
}

static void assert_same_runs(const struct run *a, const struct run *b)
{
	cr_assert_eq(a->n, b->n);
	cr_assert_eq(a->failed, b->failed);
	if (a->failed) {
		cr_assert_eq(a->code, b->code);
		cr_assert_str_eq(a->why, b->why);
	}
	for (size_t i = 0; i < a->n; i++) {
		cr_assert_eq(a->ev[i].type, b->ev[i].type);
		cr_assert_eq(a->ev[i].len, b->ev[i].len);
		cr_assert_eq(memcmp(a->ev[i].data, b->ev[i].data, a->ev[i].len), 0);
		cr_assert_eq(a->ev[i].close_code, b->ev[i].close_code);
		if (a->ev[i].type == WS_EVENT_CLOSE)
			cr_assert_str_eq(a->ev[i].reason, b->ev[i].reason);
	}
}

/* Runs the stream whole and byte by byte; both must agree. The whole run is returned. */
static void run_both(const struct wire *w, size_t max_message, struct run *whole)
{
	struct run bytewise;

	run_chunked(w, max_message, 0, whole);
	run_chunked(w, max_message, 1, &bytewise);
	assert_same_runs(whole, &bytewise);
	run_free(&bytewise);
}

static void expect_error(struct wire *w, size_t max_message, uint16_t code)
{
	struct run r;

	run_both(w, max_message, &r);
	cr_assert(r.failed, "expected close code %u, got no error", code);
	cr_assert_eq(r.code, code, "expected close code %u, got %u (%s)", code, r.code, r.why);
	run_free(&r);
	free(w->buf);
	memset(w, 0, sizeof(*w));
}

static void assert_event(const struct run *r, size_t i, enum ws_event_type type, const void *data,
			 size_t len)
{
	cr_assert_gt(r->n, i, "only %zu events", r->n);
	cr_assert_eq(r->ev[i].type, type, "event %zu: type %d, expected %d", i, r->ev[i].type,
		     type);
	cr_assert_eq(r->ev[i].len, len, "event %zu: len %zu, expected %zu", i, r->ev[i].len, len);
	cr_assert_eq(memcmp(r->ev[i].data, data, len), 0);
}

/* ---- basic decoding ---- */

Test(ws_codec, decodes_masked_text_frame)
{
	struct wire w = { 0 };
	struct run r;

	put_str(&w, FIN | WS_OP_TEXT, "Hello");
	run_both(&w, 1024, &r);
	cr_assert_not(r.failed);
	cr_assert_eq(r.n, 1);
	assert_event(&r, 0, WS_EVENT_TEXT, "Hello", 5);
	run_free(&r);
	free(w.buf);
}

Test(ws_codec, empty_final_frame_completes_without_more_input)
{
	struct wire w = { 0 };
	struct run r;

	put_frame(&w, FIN | WS_OP_TEXT, "", 0);
	put_frame(&w, WS_OP_BINARY, "", 0);
	put_frame(&w, FIN | WS_OP_CONTINUATION, "", 0);
	put_frame(&w, FIN | WS_OP_PING, "", 0);
	run_both(&w, 1024, &r);
	cr_assert_not(r.failed);
	cr_assert_eq(r.n, 3);
	assert_event(&r, 0, WS_EVENT_TEXT, "", 0);
	assert_event(&r, 1, WS_EVENT_BINARY, "", 0);
	assert_event(&r, 2, WS_EVENT_PING, "", 0);
	run_free(&r);
	free(w.buf);
}

Test(ws_codec, unmasks_every_length_at_every_chunk_alignment)
{
	uint8_t payload[70];

	for (size_t i = 0; i < sizeof(payload); i++)
		payload[i] = (uint8_t)(i * 7 + 3);
	for (size_t len = 0; len <= sizeof(payload); len++) {
		struct wire w = { 0 };
		/* Two fragments so the second frame's mask restarts mid-message. */
		size_t first = len / 3;
		put_frame(&w, WS_OP_BINARY, payload, first);
		put_frame(&w, FIN | WS_OP_CONTINUATION, payload + first, len - first);
		for (size_t chunk = 0; chunk <= 11; chunk++) {
			struct run r;
			run_chunked(&w, 1024, chunk, &r);
			cr_assert_not(r.failed);
			cr_assert_eq(r.n, 1);
			assert_event(&r, 0, WS_EVENT_BINARY, payload, len);
			run_free(&r);
		}
		free(w.buf);
	}
}

Test(ws_codec, accepts_16_and_64_bit_lengths)
{
	struct wire w = { 0 };
	struct run r;
	size_t big = 70000;
	uint8_t *payload = xmalloc(big);

	for (size_t i = 0; i < big; i++)
		payload[i] = (uint8_t)(i % 253);
	put_frame(&w, FIN | WS_OP_BINARY, payload, 300);
	put_frame(&w, FIN | WS_OP_BINARY, payload, big);
	run_both(&w, big, &r);
	cr_assert_not(r.failed);
	cr_assert_eq(r.n, 2);
	assert_event(&r, 0, WS_EVENT_BINARY, payload, 300);
	assert_event(&r, 1, WS_EVENT_BINARY, payload, big);
	run_free(&r);
	free(w.buf);
	free(payload);
}

/* ---- frame-level rules (1002) ---- */

Test(ws_codec, rejects_unmasked_client_frame)
{
	struct wire w = { 0 };

	put_header(&w, FIN | WS_OP_TEXT, false, 0, 2);
	put(&w, "hi", 2);
	expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
	put_header(&w, FIN | WS_OP_PING, false, 0, 0);
	expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
}

Test(ws_codec, rejects_each_reserved_bit)
{
	const uint8_t rsv[] = { 0x40, 0x20, 0x10, 0x70 };

	for (size_t i = 0; i < sizeof(rsv); i++) {
		struct wire w = { 0 };
		put_str(&w, FIN | rsv[i] | WS_OP_TEXT, "x");
		expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
		put_str(&w, FIN | rsv[i] | WS_OP_PING, "x");
		expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
	}
}

Test(ws_codec, rejects_reserved_opcodes)
{
	for (uint8_t op = 0; op <= 0xf; op++) {
		struct wire w = { 0 };
		struct run r;
		bool reserved = (op >= 3 && op <= 7) || op >= 0xb;
		if (op == WS_OP_CONTINUATION)
			continue;
		put_str(&w, FIN | op, "");
		run_both(&w, 1024, &r);
		cr_assert_eq(r.failed, reserved, "opcode %u", op);
		if (reserved)
			cr_assert_eq(r.code, WS_CLOSE_PROTOCOL_ERROR);
		run_free(&r);
		free(w.buf);
	}
}

Test(ws_codec, rejects_fragmented_control_frames)
{
	const uint8_t ops[] = { WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG };

	for (size_t i = 0; i < sizeof(ops); i++) {
		struct wire w = { 0 };
		put_str(&w, ops[i], "");
		expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
	}
}

Test(ws_codec, rejects_control_frames_over_125_bytes)
{
	const uint8_t ops[] = { WS_OP_CLOSE, WS_OP_PING, WS_OP_PONG };
	uint8_t payload[126];

	memset(payload, 'a', sizeof(payload));
	payload[0] = 0x03;
	payload[1] = 0xe8;
	for (size_t i = 0; i < sizeof(ops); i++) {
		struct wire w = { 0 };
		put_frame(&w, FIN | ops[i], payload, 126);
		expect_error(&w, 4096, WS_CLOSE_PROTOCOL_ERROR);
		/* Also through a (non-minimal) 16-bit length of a legal size. */
		put_header(&w, FIN | ops[i], true, 2, 125);
		put_masked(&w, payload, 125);
		expect_error(&w, 4096, WS_CLOSE_PROTOCOL_ERROR);
	}
}

Test(ws_codec, accepts_control_frames_of_125_bytes)
{
	struct wire w = { 0 };
	struct run r;
	uint8_t ping[125], cls[125];

	memset(ping, 'p', sizeof(ping));
	memset(cls, 'c', sizeof(cls));
	cls[0] = 0x03;
	cls[1] = 0xe8;
	put_frame(&w, FIN | WS_OP_PING, ping, 125);
	put_frame(&w, FIN | WS_OP_PONG, ping, 125);
	put_frame(&w, FIN | WS_OP_CLOSE, cls, 125);
	/* max_message bounds data messages only. */
	run_both(&w, 16, &r);
	cr_assert_not(r.failed);
	cr_assert_eq(r.n, 3);
	assert_event(&r, 0, WS_EVENT_PING, ping, 125);
	assert_event(&r, 1, WS_EVENT_PONG, ping, 125);
	assert_event(&r, 2, WS_EVENT_CLOSE, cls, 125);
	cr_assert_eq(r.ev[2].close_code, 1000);
	cr_assert_eq(r.ev[2].reason_len, 123);
	cr_assert_eq(memcmp(r.ev[2].reason, cls + 2, 123), 0);
	run_free(&r);
	free(w.buf);
}

Test(ws_codec, delivers_control_frames_between_fragments)
{
	struct wire w = { 0 };
	struct run r;

	put_str(&w, WS_OP_TEXT, "Hel");
	put_str(&w, FIN | WS_OP_PING, "p1");
	put_str(&w, WS_OP_CONTINUATION, "l");
	put_str(&w, FIN | WS_OP_PONG, "");
	put_close(&w, 1001, "bye");
	put_str(&w, FIN | WS_OP_CONTINUATION, "o");
	run_both(&w, 1024, &r);
	cr_assert_not(r.failed);
	cr_assert_eq(r.n, 4);
	assert_event(&r, 0, WS_EVENT_PING, "p1", 2);
	assert_event(&r, 1, WS_EVENT_PONG, "", 0);
	cr_assert_eq(r.ev[2].type, WS_EVENT_CLOSE);
	cr_assert_eq(r.ev[2].close_code, 1001);
	cr_assert_str_eq(r.ev[2].reason, "bye");
	assert_event(&r, 3, WS_EVENT_TEXT, "Hello", 5);
	run_free(&r);
	free(w.buf);
}

Test(ws_codec, rejects_continuation_without_started_message)
{
	struct wire w = { 0 };
	struct run r;

	put_str(&w, FIN | WS_OP_CONTINUATION, "x");
	expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
	put_str(&w, WS_OP_CONTINUATION, "x");
	expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);

	/* A finished message does not leave one open. */
	put_str(&w, FIN | WS_OP_TEXT, "a");
	put_str(&w, FIN | WS_OP_CONTINUATION, "b");
	run_both(&w, 1024, &r);
	cr_assert_eq(r.n, 1);
	cr_assert(r.failed);
	cr_assert_eq(r.code, WS_CLOSE_PROTOCOL_ERROR);
	run_free(&r);
	free(w.buf);
}

Test(ws_codec, rejects_new_data_frame_inside_fragmented_message)
{
	const uint8_t starts[] = { WS_OP_TEXT, FIN | WS_OP_TEXT, WS_OP_BINARY, FIN | WS_OP_BINARY };

	for (size_t i = 0; i < sizeof(starts); i++) {
		struct wire w = { 0 };
		put_str(&w, WS_OP_TEXT, "a");
		put_str(&w, FIN | WS_OP_PING, "");
		put_str(&w, starts[i], "b");
		expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
	}
}

Test(ws_codec, rejects_64_bit_length_with_top_bit_set)
{
	struct wire w = { 0 };

	put_header(&w, FIN | WS_OP_BINARY, true, 8, UINT64_C(1) << 63 | 70000);
	expect_error(&w, 1 << 20, WS_CLOSE_PROTOCOL_ERROR);
	put_header(&w, FIN | WS_OP_BINARY, true, 8, UINT64_MAX);
	expect_error(&w, 1 << 20, WS_CLOSE_PROTOCOL_ERROR);
}

Test(ws_codec, rejects_non_minimal_length_encodings)
{
	const uint64_t short16[] = { 0, 5, 125 };
	const uint64_t short64[] = { 0, 125, 126, 65535 };
	uint8_t payload[65535];

	memset(payload, 'z', sizeof(payload));
	for (size_t i = 0; i < sizeof(short16) / sizeof(short16[0]); i++) {
		struct wire w = { 0 };
		put_header(&w, FIN | WS_OP_BINARY, true, 2, short16[i]);
		put_masked(&w, payload, short16[i]);
		expect_error(&w, 1 << 20, WS_CLOSE_PROTOCOL_ERROR);
	}
	for (size_t i = 0; i < sizeof(short64) / sizeof(short64[0]); i++) {
		struct wire w = { 0 };
		put_header(&w, FIN | WS_OP_BINARY, true, 8, short64[i]);
		put_masked(&w, payload, short64[i]);
		expect_error(&w, 1 << 20, WS_CLOSE_PROTOCOL_ERROR);
	}
}

Test(ws_codec, accepts_minimal_length_boundaries)
{
	const size_t lens[] = { 125, 126, 65535, 65536 };
	uint8_t *payload = xcalloc(1, 65536);

	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct wire w = { 0 };
		struct run r;
		put_frame(&w, FIN | WS_OP_BINARY, payload, lens[i]);
		run_chunked(&w, 65536, 0, &r);
		cr_assert_not(r.failed, "length %zu: %s", lens[i], r.why);
		assert_event(&r, 0, WS_EVENT_BINARY, payload, lens[i]);
		run_free(&r);
		free(w.buf);
	}
	free(payload);
}

/* ---- message size (1009) ---- */

/* Only the header is fed: the decoder must refuse before any payload is buffered. */
static void expect_too_big_from_header_alone(int ext, uint64_t announced, size_t max_message)
{
	struct wire w = { 0 };

	put_header(&w, FIN | WS_OP_BINARY, true, ext, announced);
	w.len -= 4; /* not even the mask key */
	expect_error(&w, max_message, WS_CLOSE_TOO_BIG);
}

Test(ws_codec, rejects_oversized_message_as_soon_as_the_header_announces_it)
{
	expect_too_big_from_header_alone(0, 11, 10);
	expect_too_big_from_header_alone(2, 2000, 1024);
	expect_too_big_from_header_alone(8, UINT64_C(1) << 40, 1024);
	expect_too_big_from_header_alone(8, INT64_MAX, 65536);
}

Test(ws_codec, rejects_fragmented_message_over_limit_at_the_fragment_header)
{
	struct wire w = { 0 };
	struct run r;
	uint8_t payload[600];

	memset(payload, 'a', sizeof(payload));
	put_frame(&w, WS_OP_TEXT, payload, 600);
	put_frame(&w, FIN | WS_OP_PING, "", 0);
	put_header(&w, FIN | WS_OP_CONTINUATION, true, 2, 425);
	run_both(&w, 1024, &r);
	cr_assert(r.failed);
	cr_assert_eq(r.code, WS_CLOSE_TOO_BIG);
	cr_assert_eq(r.n, 1, "the ping before the oversized fragment is still delivered");
	run_free(&r);
	free(w.buf);
}

Test(ws_codec, accepts_message_of_exactly_max_message)
{
	struct wire w = { 0 };
	struct run r;
	uint8_t payload[1001];

	memset(payload, 'a', sizeof(payload));
	put_frame(&w, WS_OP_TEXT, payload, 400);
	put_frame(&w, WS_OP_CONTINUATION, payload, 0);
	put_frame(&w, FIN | WS_OP_CONTINUATION, payload, 600);
	/* The next message starts from zero again. */
	put_frame(&w, FIN | WS_OP_BINARY, payload, 1000);
	put_frame(&w, FIN | WS_OP_BINARY, payload, 1001);
	run_both(&w, 1000, &r);
	cr_assert_eq(r.n, 2);
	assert_event(&r, 0, WS_EVENT_TEXT, payload, 1000);
	assert_event(&r, 1, WS_EVENT_BINARY, payload, 1000);
	cr_assert(r.failed);
	cr_assert_eq(r.code, WS_CLOSE_TOO_BIG);
	run_free(&r);
	free(w.buf);
}

/* ---- UTF-8 (1007) ---- */

Test(ws_codec, rejects_invalid_utf8_text)
{
	const char *bad[] = { "\xff", "a\xc0\xaf", "\xed\xa0\x80", "\xf4\x90\x80\x80",
			      "\xe0\x80\x80", "abc\x80" };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wire w = { 0 };
		put_str(&w, FIN | WS_OP_TEXT, bad[i]);
		expect_error(&w, 1024, WS_CLOSE_INVALID_PAYLOAD);
	}
}

Test(ws_codec, accepts_invalid_utf8_in_binary_message)
{
	struct wire w = { 0 };
	struct run r;

	put_str(&w, FIN | WS_OP_BINARY, "\xff\xfe\xc3");
	run_both(&w, 1024, &r);
	cr_assert_not(r.failed);
	assert_event(&r, 0, WS_EVENT_BINARY, "\xff\xfe\xc3", 3);
	run_free(&r);
	free(w.buf);
}

Test(ws_codec, rejects_invalid_utf8_in_first_fragment_before_the_message_ends)
{
	struct wire w = { 0 };

	/* No final fragment is ever sent: the error cannot wait for FIN. */
	put_str(&w, WS_OP_TEXT, "ok \xc3\x28");
	expect_error(&w, 1024, WS_CLOSE_INVALID_PAYLOAD);
}

Test(ws_codec, rejects_invalid_utf8_before_the_frame_is_complete)
{
	struct wire w = { 0 };

	put_header(&w, FIN | WS_OP_TEXT, true, 2, 1000);
	put_masked(&w, "a\xff", 2);
	expect_error(&w, 4096, WS_CLOSE_INVALID_PAYLOAD);
}

Test(ws_codec, rejects_invalid_sequence_split_across_fragments)
{
	struct wire w = { 0 };

	/* A surrogate (ED A0 80) whose lead byte ends the first fragment. */
	put_str(&w, WS_OP_TEXT, "a\xed");
	put_str(&w, WS_OP_CONTINUATION, "\xa0\x80");
	expect_error(&w, 1024, WS_CLOSE_INVALID_PAYLOAD);
}

Test(ws_codec, accepts_code_points_split_across_fragments)
{
	struct wire w = { 0 };
	struct run r;
	const char *text = "\xe2\x82\xac \xf0\x9f\x98\x80";

	/* The euro sign in three fragments with a ping inside, the emoji in two. */
	put_str(&w, WS_OP_TEXT, "\xe2");
	put_str(&w, WS_OP_CONTINUATION, "\x82");
	put_str(&w, FIN | WS_OP_PING, "");
	put_str(&w, WS_OP_CONTINUATION, "\xac \xf0\x9f");
	put_str(&w, FIN | WS_OP_CONTINUATION, "\x98\x80");
	run_both(&w, 1024, &r);
	cr_assert_not(r.failed, "%s", r.why);
	cr_assert_eq(r.n, 2);
	assert_event(&r, 1, WS_EVENT_TEXT, text, strlen(text));
	run_free(&r);
	free(w.buf);
}

Test(ws_codec, rejects_text_message_ending_inside_a_code_point)
{
	struct wire w = { 0 };

	put_str(&w, FIN | WS_OP_TEXT, "a\xc3");
	expect_error(&w, 1024, WS_CLOSE_INVALID_PAYLOAD);
	put_str(&w, WS_OP_TEXT, "a");
	put_str(&w, FIN | WS_OP_CONTINUATION, "\xf0\x9f\x98");
	expect_error(&w, 1024, WS_CLOSE_INVALID_PAYLOAD);
}

/* ---- close frames ---- */

Test(ws_codec, rejects_close_payload_of_one_byte)
{
	struct wire w = { 0 };

	put_frame(&w, FIN | WS_OP_CLOSE, "\x03", 1);
	expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
	/* 0x0f00 would be an allowed code (3840) if a missing second byte read as zero. */
	put_frame(&w, FIN | WS_OP_CLOSE, "\x0f", 1);
	expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
	/* Nor may it be read from the previous control frame. */
	put_frame(&w, FIN | WS_OP_PING, "\x03\xe8", 2);
	put_frame(&w, FIN | WS_OP_CLOSE, "\x03", 1);
	expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
}

Test(ws_codec, rejects_close_codes_not_allowed_on_the_wire)
{
	const uint16_t bad[] = { 0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999,
				 5000, 65535 };

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct wire w = { 0 };
		put_close(&w, bad[i], "");
		expect_error(&w, 1024, WS_CLOSE_PROTOCOL_ERROR);
	}
}

Test(ws_codec, accepts_close_codes_allowed_on_the_wire)
{
	const uint16_t good[] = { 1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011,
				  1012, 1013, 1014, 3000, 3999, 4000, 4999 };

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct wire w = { 0 };
		struct run r;
		put_close(&w, good[i], "why");
		run_both(&w, 1024, &r);
		cr_assert_not(r.failed, "code %u", good[i]);
		cr_assert_eq(r.ev[0].type, WS_EVENT_CLOSE);
		cr_assert_eq(r.ev[0].close_code, good[i]);
		cr_assert_str_eq(r.ev[0].reason, "why");
		run_free(&r);
		free(w.buf);
	}
}

Test(ws_codec, rejects_close_reason_with_invalid_utf8)
{
	struct wire w = { 0 };

	put_close(&w, 1000, "bad \xc3");
	expect_error(&w, 1024, WS_CLOSE_INVALID_PAYLOAD);
	put_close(&w, 1000, "\xed\xbf\xbf");
	expect_error(&w, 1024, WS_CLOSE_INVALID_PAYLOAD);
}

Test(ws_codec, reports_no_status_for_empty_close_payload)
{
	struct wire w = { 0 };
	struct run r;

	put_frame(&w, FIN | WS_OP_CLOSE, "", 0);
	run_both(&w, 1024, &r);
	cr_assert_not(r.failed);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.ev[0].type, WS_EVENT_CLOSE);
	cr_assert_eq(r.ev[0].close_code, WS_CLOSE_NO_STATUS);
	cr_assert_eq(r.ev[0].reason_len, 0);
	cr_assert_str_eq(r.ev[0].reason, "");
	run_free(&r);
	free(w.buf);
}

Test(ws_codec, close_reason_is_nul_terminated_in_place)
{
	struct ws_decoder *d = ws_decoder_new(1024);
	struct wire w = { 0 };
	struct ws_event ev;
	size_t consumed;
	uint16_t code;
	const char *why;

	put_close(&w, 4001, "room closed");
	cr_assert_eq(ws_decoder_next(d, w.buf, w.len, &consumed, &ev, &code, &why),
		     WS_DECODE_EVENT);
	cr_assert_eq(consumed, w.len);
	cr_assert_eq(ev.close_code, 4001);
	cr_assert_eq(ev.close_reason_len, 11);
	cr_assert_str_eq(ev.close_reason, "room closed");
	cr_assert_eq(ev.len, 13, "data is the whole close payload");
	ws_decoder_free(d);
	free(w.buf);
}

/* ---- the calling convention ---- */

Test(ws_codec, several_frames_in_one_buffer_yield_one_event_per_call)
{
	struct ws_decoder *d = ws_decoder_new(1024);
	struct wire w = { 0 };
	struct ws_event ev;
	size_t consumed, off = 0, ends[4];
	uint16_t code;
	const char *why;

	put_str(&w, FIN | WS_OP_TEXT, "one");
	ends[0] = w.len;
	put_str(&w, FIN | WS_OP_PING, "two");
	ends[1] = w.len;
	/* A non-final fragment gives no event: the call goes on to the next frame. */
	put_str(&w, WS_OP_BINARY, "th");
	put_str(&w, FIN | WS_OP_CONTINUATION, "ree");
	ends[2] = w.len;
	put_str(&w, FIN | WS_OP_TEXT, "fo");
	ends[3] = w.len;
	put(&w, "\x81\x84", 2); /* the start of a fifth frame */

	const char *want[] = { "one", "two", "three", "fo" };
	for (size_t i = 0; i < 4; i++) {
		cr_assert_eq(ws_decoder_next(d, w.buf + off, w.len - off, &consumed, &ev, &code,
					     &why),
			     WS_DECODE_EVENT);
		off += consumed;
		cr_assert_eq(off, ends[i], "event %zu ends at %zu, expected %zu", i, off, ends[i]);
		cr_assert_eq(ev.len, strlen(want[i]));
		cr_assert_eq(memcmp(ev.data, want[i], ev.len), 0);
	}
	cr_assert_eq(ws_decoder_next(d, w.buf + off, w.len - off, &consumed, &ev, &code, &why),
		     WS_DECODE_NEED_MORE);
	cr_assert_eq(consumed, 2, "a partial header is kept inside the decoder");
	ws_decoder_free(d);
	free(w.buf);
}

Test(ws_codec, byte_by_byte_feeding_gives_the_same_events_as_all_at_once)
{
	struct wire w = { 0 };
	struct run whole, bytewise, odd;
	uint8_t *big = xmalloc(70000);

	for (size_t i = 0; i < 70000; i++)
		big[i] = (uint8_t)(i * 31 + 7);
	put_str(&w, FIN | WS_OP_TEXT, "first \xc3\xa9");
	put_str(&w, WS_OP_TEXT, "frag\xe2\x82");
	put_str(&w, FIN | WS_OP_PING, "mid");
	put_str(&w, WS_OP_CONTINUATION, "");
	put_str(&w, FIN | WS_OP_PONG, "");
	put_str(&w, FIN | WS_OP_CONTINUATION, "\xac end");
	put_frame(&w, FIN | WS_OP_BINARY, big, 300);
	put_frame(&w, WS_OP_BINARY, big, 70000);
	put_frame(&w, FIN | WS_OP_CONTINUATION, big, 5);
	put_frame(&w, FIN | WS_OP_BINARY, "", 0);
	put_close(&w, 1000, "done");
	put_str(&w, FIN | WS_OP_TEXT, "bad \xff");

	run_chunked(&w, 1 << 17, 0, &whole);
	cr_assert_eq(whole.n, 8);
	cr_assert(whole.failed);
	cr_assert_eq(whole.code, WS_CLOSE_INVALID_PAYLOAD);
	run_chunked(&w, 1 << 17, 1, &bytewise);
	assert_same_runs(&whole, &bytewise);
	for (size_t chunk = 2; chunk < 40; chunk += 3) {
		run_chunked(&w, 1 << 17, chunk, &odd);
		assert_same_runs(&whole, &odd);
		run_free(&odd);
	}
	run_free(&whole);
	run_free(&bytewise);
	free(w.buf);
	free(big);
}

Test(ws_codec, never_reads_past_len_of_a_truncated_stream)
{
	struct wire w = { 0 };
	uint8_t payload[300];

	memset(payload, 'q', sizeof(payload));
	put_frame(&w, WS_OP_TEXT, payload, 300);
	put_frame(&w, FIN | WS_OP_CONTINUATION, payload, 10);
	/* Each prefix sits in a heap block of exactly its size (see feed()): ASan reports any
	 * read past it. Every proper prefix leaves the message incomplete. */
	for (size_t len = 0; len < w.len; len++) {
		struct ws_decoder *d = ws_decoder_new(1024);
		struct run r = { 0 };
		feed(d, w.buf, len, &r);
		cr_assert_not(r.failed);
		cr_assert_eq(r.n, 0);
		ws_decoder_free(d);
	}
	free(w.buf);
}

Test(ws_codec, failed_decoder_keeps_failing_with_the_same_code)
{
	struct ws_decoder *d = ws_decoder_new(1024);
	struct wire w = { 0 };
	struct ws_event ev;
	size_t consumed;
	uint16_t code = 0;
	const char *why = NULL;

	put_header(&w, FIN | WS_OP_TEXT, false, 0, 0);
	cr_assert_eq(ws_decoder_next(d, w.buf, w.len, &consumed, &ev, &code, &why),
		     WS_DECODE_ERROR);
	cr_assert_eq(code, WS_CLOSE_PROTOCOL_ERROR);
	w.len = 0;
	put_str(&w, FIN | WS_OP_TEXT, "fine");
	code = 0;
	cr_assert_eq(ws_decoder_next(d, w.buf, w.len, &consumed, &ev, &code, &why),
		     WS_DECODE_ERROR);
	cr_assert_eq(code, WS_CLOSE_PROTOCOL_ERROR);
	cr_assert_eq(consumed, 0);
	ws_decoder_free(d);
	free(w.buf);
}

/* ---- memory bound ---- */

#if defined(__SANITIZE_ADDRESS__)
#define HAVE_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define HAVE_ASAN 1
#endif
#endif

#ifdef HAVE_ASAN
size_t __sanitizer_get_current_allocated_bytes(void);
static size_t heap_in_use(void)
{
	return __sanitizer_get_current_allocated_bytes();
}
#else
static size_t heap_in_use(void)
{
	return mallinfo2().uordblks;
}
#endif

Test(ws_codec, buffers_at_most_max_message_plus_a_small_constant)
{
	const size_t max = 64 * 1024;
	struct ws_decoder *d;
	struct wire w = { 0 };
	struct run r = { 0 };
	uint8_t *payload = xmalloc(max);
	size_t base, header_len;

	memset(payload, 'm', max);
	put_header(&w, WS_OP_BINARY, true, 2, max - 1000);
	header_len = w.len;
	put_masked(&w, payload, max - 1000);
	put_frame(&w, FIN | WS_OP_CONTINUATION, payload, 1000);

	base = heap_in_use();
	d = ws_decoder_new(max);
	/* An announced length reserves nothing before the bytes arrive. */
	feed(d, w.buf, header_len + 1, &r);
	cr_assert_leq(heap_in_use() - base, 2048);
	/* Everything but the last byte: the whole message is buffered, nothing more. */
	feed(d, w.buf + header_len + 1, w.len - header_len - 2, &r);
	cr_assert_leq(heap_in_use() - base, max + 1024, "decoder holds %zu bytes",
		      heap_in_use() - base);
	feed(d, w.buf + w.len - 1, 1, &r);
	cr_assert_eq(r.n, 1);
	cr_assert_eq(r.ev[0].len, max);
	/* The next call releases the big buffer: an idle connection stays small. */
	cr_assert_eq(r.failed, false);
	feed(d, w.buf, 0, &r);
	cr_assert_leq(heap_in_use() - base, 2048 + r.ev[0].len + 1);
	run_free(&r);
	size_t after_free = heap_in_use();
	cr_assert_leq(after_free - base, 2048);
	ws_decoder_free(d);
	free(w.buf);
	free(payload);
}

/* ---- encoder ---- */

Test(ws_codec, frame_header_uses_the_minimal_length_encoding)
{
	struct {
		uint64_t len;
		size_t size;
		uint8_t bytes[10];
	} cases[] = {
		{ 0, 2, { 0x81, 0 } },
		{ 125, 2, { 0x81, 125 } },
		{ 126, 4, { 0x81, 126, 0, 126 } },
		{ 65535, 4, { 0x81, 126, 0xff, 0xff } },
		{ 65536, 10, { 0x81, 127, 0, 0, 0, 0, 0, 1, 0, 0 } },
		{ UINT64_C(0x0102030405060708), 10, { 0x81, 127, 1, 2, 3, 4, 5, 6, 7, 8 } },
	};
	uint8_t out[10];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		memset(out, 0xee, sizeof(out));
		cr_assert_eq(ws_frame_header(out, WS_OP_TEXT, true, cases[i].len), cases[i].size,
			     "len %llu", (unsigned long long)cases[i].len);
		cr_assert_eq(memcmp(out, cases[i].bytes, cases[i].size), 0, "len %llu",
			     (unsigned long long)cases[i].len);
	}
	cr_assert_eq(ws_frame_header(out, WS_OP_CONTINUATION, false, 3), 2);
	cr_assert_eq(out[0], 0x00);
	cr_assert_eq(ws_frame_header(out, WS_OP_CLOSE, true, 2), 2);
	cr_assert_eq(out[0], 0x88);
	cr_assert_eq(ws_frame_header(out, WS_OP_BINARY, true, 3), 2);
	cr_assert_eq(out[0], 0x82);
}

/* The decoder accepts what the encoder writes, once masked as a client would. */
Test(ws_codec, decoder_accepts_encoded_headers_once_masked)
{
	const uint64_t lens[] = { 0, 125, 126, 65535, 65536 };
	uint8_t *payload = xmalloc(65536);

	for (size_t i = 0; i < 65536; i++)
		payload[i] = (uint8_t)(i ^ (i >> 8));
	for (size_t i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		struct wire w = { 0 };
		struct run r;
		uint8_t hdr[10];
		size_t n = ws_frame_header(hdr, WS_OP_BINARY, true, lens[i]);
		hdr[1] |= 0x80;
		put(&w, hdr, n);
		put(&w, test_mask, 4);
		put_masked(&w, payload, lens[i]);
		run_chunked(&w, 65536, 0, &r);
		cr_assert_not(r.failed, "len %llu: %s", (unsigned long long)lens[i], r.why);
		assert_event(&r, 0, WS_EVENT_BINARY, payload, lens[i]);
		run_free(&r);
		free(w.buf);
	}
	free(payload);
}

Test(ws_codec, close_payload_holds_code_and_short_reason)
{
	uint8_t out[125];

	cr_assert_eq(ws_close_payload(out, 1000, NULL), 2);
	cr_assert_eq(out[0], 0x03);
	cr_assert_eq(out[1], 0xe8);
	cr_assert_eq(ws_close_payload(out, 1001, ""), 2);
	cr_assert_eq(ws_close_payload(out, 1009, "too big"), 9);
	cr_assert_eq(out[0], 0x03);
	cr_assert_eq(out[1], 0xf1);
	cr_assert_eq(memcmp(out + 2, "too big", 7), 0);
}

static void assert_close_reason(const char *reason, size_t want_len)
{
	uint8_t out[125];
	size_t n = ws_close_payload(out, 1008, reason);

	cr_assert_eq(n, 2 + want_len, "got %zu bytes, expected %zu", n, 2 + want_len);
	cr_assert_leq(n, 125);
	cr_assert_eq(memcmp(out + 2, reason, want_len), 0);
	cr_assert(validate_utf8((const char *)out + 2, n - 2));
}

Test(ws_codec, close_payload_truncates_reason_on_a_utf8_boundary)
{
	char reason[300];

	memset(reason, 'a', sizeof(reason));
	reason[299] = '\0';
	assert_close_reason(reason, 123);
	/* A 2-byte character straddling the limit (bytes 122-123) is left out whole. */
	memcpy(reason + 122, "\xc3\xa9", 2);
	assert_close_reason(reason, 122);
	/* A 4-byte character at 120-123: one byte over, all four go. */
	memset(reason, 'a', 122);
	memcpy(reason + 120, "\xf0\x9f\x98\x80", 4);
	assert_close_reason(reason, 120);
	/* Ending exactly at the limit keeps it. */
	memset(reason, 'a', 124);
	memcpy(reason + 119, "\xf0\x9f\x98\x80", 4);
	assert_close_reason(reason, 123);
	/* Exactly 123 bytes fit. */
	reason[123] = '\0';
	assert_close_reason(reason, 123);
}

Test(ws_codec, close_payload_round_trips_through_the_decoder)
{
	uint8_t out[125];
	char reason[200];
	struct wire w = { 0 };
	struct run r;
	size_t n;

	for (size_t i = 0; i + 2 < sizeof(reason); i += 2)
		memcpy(reason + i, "\xc3\xa9", 2);
	reason[198] = '\0';
	n = ws_close_payload(out, 1011, reason);
	put_frame(&w, FIN | WS_OP_CLOSE, out, n);
	run_both(&w, 16, &r);
	cr_assert_not(r.failed, "%s", r.why);
	cr_assert_eq(r.ev[0].close_code, 1011);
	cr_assert_eq(r.ev[0].reason_len, 122);
	run_free(&r);
	free(w.buf);
}

/* ---- handshake ---- */

Test(ws_codec, handshake_accept_matches_rfc6455_example)
{
	char out[29];
	const char *key = "dGhlIHNhbXBsZSBub25jZQ==";

	memset(out, 'x', sizeof(out));
	ws_handshake_accept(key, strlen(key), out);
	/* RFC 6455 section 1.3 (python3-websockets' accept_key() agrees). */
	cr_assert_str_eq(out, "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
	/* A second vector, computed with Python's hashlib and base64. */
	key = "x3JJHMbDL1EzLkh9GBhXDw==";
	ws_handshake_accept(key, strlen(key), out);
	cr_assert_str_eq(out, "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
}

Test(ws_codec, handshake_key_must_be_base64_of_16_bytes)
{
	const char *good[] = { "dGhlIHNhbXBsZSBub25jZQ==", "x3JJHMbDL1EzLkh9GBhXDw==",
			       "AAAAAAAAAAAAAAAAAAAAAA==", "+/+/+/+/+/+/+/+/+/+/+w==" };
	const char *bad[] = {
		"", "dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ===",
		"dGhlIHNhbXBsZSBub25jZQAA",  /* 18 bytes */
		"dGhlIHNhbXBsZSBub25jZQA=",  /* 17 bytes */
		"dGhlIHNhbXBsZSBub25jZ===",  /* 15 bytes and a bad pad */
		"dGhlIHNhbXBsZSBub25j!Q==", "dGhlIHNhbXBsZSBub25j-Q==", "dGhlIHNhbXBsZSBub25j_Q==",
		"dGhlIHNhbX=sZSBub25jZQ==", " dGhlIHNhbXBsZSBub25jZQ=", "dGhlIHNhbXBsZSBub25jZQ=\n",
	};

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		cr_assert(ws_handshake_key_valid(good[i], strlen(good[i])), "%s", good[i]);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_assert_not(ws_handshake_key_valid(bad[i], strlen(bad[i])), "%s", bad[i]);
	cr_assert_not(ws_handshake_key_valid(NULL, 24));
	/* The length given is what counts, not a NUL further on. */
	cr_assert_not(ws_handshake_key_valid("dGhlIHNhbXBsZSBub25jZQ==", 23));
}

/* ---- interoperability ---- */

/*
 * Masked client frames written by an independent implementation: Debian's python3-websockets
 * 10.4, generated once with
 *
 *   from websockets.frames import Frame, Opcode, Close
 *   frames = [Frame(Opcode.TEXT, "Hello, wörld".encode()),
 *             Frame(Opcode.TEXT, b"h\xc3", fin=False),
 *             Frame(Opcode.PING, b"ping-1"),
 *             Frame(Opcode.CONT, b"\xa9llo", fin=True),
 *             Frame(Opcode.BINARY, bytes(i % 251 for i in range(300))),
 *             Frame(Opcode.CLOSE, Close(1000, "bye").serialize())]
 *   b"".join(f.serialize(mask=True) for f in frames)
 *
 * and pasted here (the masks are random, so a rerun gives other bytes).
 */
static const uint8_t python_websockets_frames[] = {
	0x81, 0x8d, 0x24, 0xc4, 0x2d, 0x81, 0x6c, 0xa1, 0x41, 0xed, 0x4b, 0xe8,
	0x0d, 0xf6, 0xe7, 0x72, 0x5f, 0xed, 0x40, 0x01, 0x82, 0x19, 0x71, 0x4a,
	0x89, 0x71, 0xb2, 0x89, 0x86, 0x8c, 0x4d, 0xac, 0x71, 0xfc, 0x24, 0xc2,
	0x16, 0xa1, 0x7c, 0x80, 0x84, 0x20, 0x79, 0x2b, 0x77, 0x89, 0x15, 0x47,
	0x18, 0x82, 0xfe, 0x01, 0x2c, 0x65, 0x55, 0x1f, 0x0e, 0x65, 0x54, 0x1d,
	0x0d, 0x61, 0x50, 0x19, 0x09, 0x6d, 0x5c, 0x15, 0x05, 0x69, 0x58, 0x11,
	0x01, 0x75, 0x44, 0x0d, 0x1d, 0x71, 0x40, 0x09, 0x19, 0x7d, 0x4c, 0x05,
	0x15, 0x79, 0x48, 0x01, 0x11, 0x45, 0x74, 0x3d, 0x2d, 0x41, 0x70, 0x39,
	0x29, 0x4d, 0x7c, 0x35, 0x25, 0x49, 0x78, 0x31, 0x21, 0x55, 0x64, 0x2d,
	0x3d, 0x51, 0x60, 0x29, 0x39, 0x5d, 0x6c, 0x25, 0x35, 0x59, 0x68, 0x21,
	0x31, 0x25, 0x14, 0x5d, 0x4d, 0x21, 0x10, 0x59, 0x49, 0x2d, 0x1c, 0x55,
	0x45, 0x29, 0x18, 0x51, 0x41, 0x35, 0x04, 0x4d, 0x5d, 0x31, 0x00, 0x49,
	0x59, 0x3d, 0x0c, 0x45, 0x55, 0x39, 0x08, 0x41, 0x51, 0x05, 0x34, 0x7d,
	0x6d, 0x01, 0x30, 0x79, 0x69, 0x0d, 0x3c, 0x75, 0x65, 0x09, 0x38, 0x71,
	0x61, 0x15, 0x24, 0x6d, 0x7d, 0x11, 0x20, 0x69, 0x79, 0x1d, 0x2c, 0x65,
	0x75, 0x19, 0x28, 0x61, 0x71, 0xe5, 0xd4, 0x9d, 0x8d, 0xe1, 0xd0, 0x99,
	0x89, 0xed, 0xdc, 0x95, 0x85, 0xe9, 0xd8, 0x91, 0x81, 0xf5, 0xc4, 0x8d,
	0x9d, 0xf1, 0xc0, 0x89, 0x99, 0xfd, 0xcc, 0x85, 0x95, 0xf9, 0xc8, 0x81,
	0x91, 0xc5, 0xf4, 0xbd, 0xad, 0xc1, 0xf0, 0xb9, 0xa9, 0xcd, 0xfc, 0xb5,
	0xa5, 0xc9, 0xf8, 0xb1, 0xa1, 0xd5, 0xe4, 0xad, 0xbd, 0xd1, 0xe0, 0xa9,
	0xb9, 0xdd, 0xec, 0xa5, 0xb5, 0xd9, 0xe8, 0xa1, 0xb1, 0xa5, 0x94, 0xdd,
	0xcd, 0xa1, 0x90, 0xd9, 0xc9, 0xad, 0x9c, 0xd5, 0xc5, 0xa9, 0x98, 0xd1,
	0xc1, 0xb5, 0x84, 0xcd, 0xdd, 0xb1, 0x80, 0xc9, 0xd9, 0xbd, 0x8c, 0xc5,
	0xd5, 0xb9, 0x88, 0xc1, 0xd1, 0x85, 0xb4, 0xfd, 0xed, 0x81, 0xb0, 0xf9,
	0xe9, 0x8d, 0xbc, 0xf5, 0xe5, 0x89, 0xb8, 0xf1, 0xe1, 0x95, 0xa4, 0xed,
	0xfd, 0x91, 0xa0, 0xe9, 0xf9, 0x9d, 0xac, 0xe5, 0x0e, 0x64, 0x57, 0x1c,
	0x0a, 0x60, 0x53, 0x18, 0x06, 0x6c, 0x5f, 0x14, 0x02, 0x68, 0x5b, 0x10,
	0x1e, 0x74, 0x47, 0x0c, 0x1a, 0x70, 0x43, 0x08, 0x16, 0x7c, 0x4f, 0x04,
	0x12, 0x78, 0x4b, 0x00, 0x2e, 0x44, 0x77, 0x3c, 0x2a, 0x40, 0x73, 0x38,
	0x26, 0x4c, 0x7f, 0x34, 0x22, 0x48, 0x7b, 0x30, 0x3e, 0x88, 0x85, 0x98,
	0x5a, 0xc1, 0x88, 0x9b, 0xb2, 0xa3, 0xf1, 0xfd,
};

Test(ws_codec, decodes_frames_written_by_python_websockets)
{
	struct wire w = { 0 };
	struct run r;
	uint8_t binary[300];

	for (size_t i = 0; i < sizeof(binary); i++)
		binary[i] = (uint8_t)(i % 251);
	put(&w, python_websockets_frames, sizeof(python_websockets_frames));
	run_both(&w, 1024, &r);
	cr_assert_not(r.failed, "%s", r.why);
	cr_assert_eq(r.n, 5);
	assert_event(&r, 0, WS_EVENT_TEXT, "Hello, w\xc3\xb6rld", 13);
	assert_event(&r, 1, WS_EVENT_PING, "ping-1", 6);
	assert_event(&r, 2, WS_EVENT_TEXT, "h\xc3\xa9llo", 6);
	assert_event(&r, 3, WS_EVENT_BINARY, binary, sizeof(binary));
	cr_assert_eq(r.ev[4].type, WS_EVENT_CLOSE);
	cr_assert_eq(r.ev[4].close_code, 1000);
	cr_assert_str_eq(r.ev[4].reason, "bye");
	run_free(&r);
	free(w.buf);
}
