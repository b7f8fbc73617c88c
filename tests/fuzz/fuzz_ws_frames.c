/*
 * libFuzzer target for the WebSocket decoder. The same bytes go to two decoders (max_message
 * 64 KiB): one gets them whole, the other in chunks whose sizes come from the data. Both must
 * report the same events and the same error, and every event must keep the codec's promises
 * (text and close reasons valid UTF-8, sizes within bounds, *consumed within len).
 *
 * Random bytes rarely get past the mask-bit check, so an input whose first byte is odd is
 * read instead as a list of frames to build, masked, with the decoder's own rules left to
 * the fuzzer: record = [first header byte][length byte: low 7 bits = payload size, top bit =
 * spell it with a 16-bit length][payload]. With an even first byte the rest is raw wire bytes.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/validate.h"
#include "codec/ws_codec.h"

#define MAX_MESSAGE (64 * 1024)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(bool ok)
{
	if (!ok)
		__builtin_trap();
}

/* What a decoder said, serialized so that two runs compare with memcmp. */
struct transcript {
	uint8_t *buf;
	size_t len, cap;
};

static void put(struct transcript *t, const void *p, size_t n)
{
	if (t->len + n > t->cap) {
		t->cap = (t->len + n) * 2 + 64;
		t->buf = xrealloc(t->buf, t->cap);
	}
	if (n > 0)
		memcpy(t->buf + t->len, p, n);
	t->len += n;
}

static void check_event(const struct ws_event *ev)
{
	check(ev->data != NULL);
	switch (ev->type) {
	case WS_EVENT_TEXT:
		check(validate_utf8((const char *)ev->data, ev->len));
		/* fallthrough */
	case WS_EVENT_BINARY:
		check(ev->len <= MAX_MESSAGE);
		break;
	case WS_EVENT_PING:
	case WS_EVENT_PONG:
		check(ev->len <= 125);
		break;
	case WS_EVENT_CLOSE:
		check(ev->len <= 125 && ev->len != 1);
		check(ev->close_reason != NULL);
		check(ev->close_reason[ev->close_reason_len] == '\0');
		check(validate_utf8(ev->close_reason, ev->close_reason_len));
		if (ev->len == 0) {
			check(ev->close_code == WS_CLOSE_NO_STATUS && ev->close_reason_len == 0);
		} else {
			/* A reason that arrived fits and is valid, so the encoder must keep it
			 * whole (unless it holds a NUL, which a C string cannot carry). */
			uint8_t again[125];
			check(ev->close_reason_len == ev->len - 2);
			if (!memchr(ev->close_reason, '\0', ev->close_reason_len)) {
				check(ws_close_payload(again, ev->close_code, ev->close_reason) ==
				      ev->len);
				check(memcmp(again, ev->data, ev->len) == 0);
			}
		}
		break;
	default:
		check(false);
	}
}

static void record_event(struct transcript *t, const struct ws_event *ev)
{
	uint8_t type = (uint8_t)ev->type;

	check_event(ev);
	put(t, &type, 1);
	put(t, &ev->len, sizeof(ev->len));
	put(t, ev->data, ev->len);
	if (ev->type == WS_EVENT_CLOSE) {
		put(t, &ev->close_code, sizeof(ev->close_code));
		put(t, &ev->close_reason_len, sizeof(ev->close_reason_len));
		put(t, ev->close_reason, ev->close_reason_len);
	}
}

/* Feeds one chunk, calling again after each event. Returns false once the decoder failed. */
static bool feed(struct ws_decoder *d, const uint8_t *chunk, size_t len, struct transcript *t)
{
	/* A private copy of exactly len bytes: ASan sees any read past the end. */
	uint8_t *buf = xmalloc(len ? len : 1);
	size_t off = 0;
	bool alive = true;

	if (len > 0)
		memcpy(buf, chunk, len);
	for (;;) {
		struct ws_event ev;
		size_t consumed = SIZE_MAX;
		uint16_t code = 0;
		const char *why = NULL;
		enum ws_decode_result r =
			ws_decoder_next(d, buf + off, len - off, &consumed, &ev, &code, &why);
		check(consumed <= len - off);
		off += consumed;
		if (r == WS_DECODE_EVENT) {
			record_event(t, &ev);
			continue;
		}
		if (r == WS_DECODE_ERROR) {
			uint8_t marker = 0xee;
			check(code == WS_CLOSE_PROTOCOL_ERROR || code == WS_CLOSE_INVALID_PAYLOAD ||
			      code == WS_CLOSE_TOO_BIG);
			check(why != NULL);
			put(t, &marker, 1);
			put(t, &code, sizeof(code));
			put(t, &why, sizeof(why));  /* static strings: same rule, same pointer */
			alive = false;
			break;
		}
		check(r == WS_DECODE_NEED_MORE && off == len);
		break;
	}
	free(buf);
	return alive;
}

/* Turns a frame list (see the top of the file) into masked wire bytes. */
static uint8_t *build_frames(const uint8_t *data, size_t size, size_t *out_len)
{
	/* Worst case per record: 2 input bytes become 8 of header. */
	uint8_t *out = xmalloc(size * 4 + 16);
	size_t i = 0, n = 0;
	uint8_t mask[4] = { 0x5a, 0xa5, 0x3c, 0xc3 };

	while (i + 2 <= size) {
		uint8_t b0 = data[i], lb = data[i + 1];
		size_t len = lb & 0x7f;
		i += 2;
		if (len > size - i)
			len = size - i;
		out[n++] = b0;
		if (lb & 0x80) {
			out[n++] = 0x80 | 126;
			out[n++] = 0;
			out[n++] = (uint8_t)len;
		} else {
			out[n++] = (uint8_t)(0x80 | len);
		}
		mask[0] ^= b0;
		memcpy(out + n, mask, 4);
		n += 4;
		for (size_t k = 0; k < len; k++)
			out[n++] = data[i + k] ^ mask[k & 3];
		i += len;
	}
	*out_len = n;
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct transcript whole = { 0 }, chunked = { 0 };
	struct ws_decoder *d;
	uint8_t *built = NULL;
	const uint8_t *wire;
	size_t wire_len;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		built = build_frames(data + 1, size - 1, &wire_len);
		wire = built;
	} else {
		wire = data + 1;
		wire_len = size - 1;
	}

	d = ws_decoder_new(MAX_MESSAGE);
	feed(d, wire, wire_len, &whole);
	ws_decoder_free(d);

	/* Chunk sizes 1..16 cycle through the input's bytes, so splits land everywhere. */
	d = ws_decoder_new(MAX_MESSAGE);
	for (size_t off = 0, k = 0; off < wire_len; k++) {
		size_t chunk = 1 + (data[k % size] + k) % 16;
		if (chunk > wire_len - off)
			chunk = wire_len - off;
		if (!feed(d, wire + off, chunk, &chunked))
			break;
		off += chunk;
	}
	ws_decoder_free(d);

	check(whole.len == chunked.len);
	check(whole.len == 0 || memcmp(whole.buf, chunked.buf, whole.len) == 0);
	free(whole.buf);
	free(chunked.buf);
	free(built);
	return 0;
}
