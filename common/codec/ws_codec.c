#include "codec/ws_codec.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/alloc.h"
#include "base/validate.h"

#define WS_CONTROL_MAX 125
/* A delivered message buffer larger than this is released rather than kept, so that an idle
 * connection that once received a big message does not hold on to its memory. */
#define WS_KEEP_BUFFER 1024
#define WS_MIN_BUFFER 256

static const char ws_guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

enum ws_decoder_state { WS_READ_HEADER, WS_READ_PAYLOAD, WS_FAILED };

/* The header arrives in three parts, each checked as soon as it is complete. */
enum ws_header_stage { WS_HDR_BASE, WS_HDR_LENGTH, WS_HDR_MASK };

struct ws_decoder {
	size_t max_message;
	enum ws_decoder_state state;

	enum ws_header_stage stage;
	uint8_t hdr[14];
	size_t hdr_have, hdr_need;

	/* The frame being read. */
	uint8_t opcode;
	bool fin;
	uint64_t frame_left;
	uint8_t mask[4];
	size_t mask_pos;

	/* The data message being reassembled across fragments. */
	bool in_message;
	uint8_t msg_opcode;
	uint8_t *msg;
	size_t msg_len, msg_cap;
	size_t utf8_ok;         /* msg[0..utf8_ok) is whole valid characters */
	bool msg_delivered;     /* the caller holds msg until its next call */

	/* Control frames may interleave with fragments, so they get their own buffer. */
	uint8_t ctrl[WS_CONTROL_MAX + 1];
	size_t ctrl_len;

	uint16_t error_code;
	const char *error_why;
};

static const uint8_t ws_empty[1];

struct ws_decoder *ws_decoder_new(size_t max_message)
{
	struct ws_decoder *d = xcalloc(1, sizeof(*d));

	/* Keeps msg_cap + 1 and the doubling in message_reserve() clear of overflow. */
	if (max_message > SIZE_MAX / 4)
		max_message = SIZE_MAX / 4;
	d->max_message = max_message;
	d->state = WS_READ_HEADER;
	d->stage = WS_HDR_BASE;
	d->hdr_need = 2;
	return d;
}

void ws_decoder_free(struct ws_decoder *d)
{
	if (!d)
		return;
	free(d->msg);
	free(d);
}

static bool is_control(uint8_t opcode)
{
	return (opcode & 0x8) != 0;
}

static bool is_known_opcode(uint8_t opcode)
{
	return opcode <= WS_OP_BINARY || (opcode >= WS_OP_CLOSE && opcode <= WS_OP_PONG);
}

/* Codes a peer may put in a close frame (RFC 6455 7.4 and the IANA registry). */
static bool close_code_allowed(uint16_t code)
{
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
	       (code >= 3000 && code <= 4999);
}

static bool fail(struct ws_decoder *d, uint16_t code, const char *why)
{
	d->state = WS_FAILED;
	d->error_code = code;
	d->error_why = why;
	return false;
}

static bool check_base_header(struct ws_decoder *d)
{
	uint8_t b0 = d->hdr[0], b1 = d->hdr[1];
	uint8_t len7 = b1 & 0x7f;

	d->fin = (b0 & 0x80) != 0;
	d->opcode = b0 & 0x0f;
	if (b0 & 0x70)
		return fail(d, WS_CLOSE_PROTOCOL_ERROR, "reserved bits set without an extension");
	if (!is_known_opcode(d->opcode))
		return fail(d, WS_CLOSE_PROTOCOL_ERROR, "reserved opcode");
	if (is_control(d->opcode)) {
		if (!d->fin)
			return fail(d, WS_CLOSE_PROTOCOL_ERROR, "fragmented control frame");
		if (len7 > WS_CONTROL_MAX)
			return fail(d, WS_CLOSE_PROTOCOL_ERROR, "control frame over 125 bytes");
	}
	if (!(b1 & 0x80))
		return fail(d, WS_CLOSE_PROTOCOL_ERROR, "client frame not masked");
	if (d->opcode == WS_OP_CONTINUATION && !d->in_message)
		return fail(d, WS_CLOSE_PROTOCOL_ERROR, "continuation frame outside a message");
	if ((d->opcode == WS_OP_TEXT || d->opcode == WS_OP_BINARY) && d->in_message)
		return fail(d, WS_CLOSE_PROTOCOL_ERROR, "data frame inside a fragmented message");
	d->hdr_need = 2 + (len7 == 126 ? 2 : len7 == 127 ? 8 : 0);
	return true;
}

/* Runs before the mask key arrives: an oversized message is refused on its announcement. */
static bool check_length(struct ws_decoder *d)
{
	uint8_t len7 = d->hdr[1] & 0x7f;
	uint64_t len = len7;

	if (len7 == 126) {
		len = (uint64_t)d->hdr[2] << 8 | d->hdr[3];
		if (len < 126)
			return fail(d, WS_CLOSE_PROTOCOL_ERROR, "non-minimal length encoding");
	} else if (len7 == 127) {
		len = 0;
		for (int i = 0; i < 8; i++)
			len = len << 8 | d->hdr[2 + i];
		if (len >> 63)
			return fail(d, WS_CLOSE_PROTOCOL_ERROR, "64-bit length with top bit set");
		if (len < 65536)
			return fail(d, WS_CLOSE_PROTOCOL_ERROR, "non-minimal length encoding");
	}
	if (!is_control(d->opcode) && len > (uint64_t)(d->max_message - d->msg_len))
		return fail(d, WS_CLOSE_TOO_BIG, "message too big");
	d->frame_left = len;
	d->hdr_need += 4;
	return true;
}

static void start_payload(struct ws_decoder *d)
{
	memcpy(d->mask, d->hdr + d->hdr_need - 4, 4);
	d->mask_pos = 0;
	d->ctrl_len = 0;
	if (d->opcode == WS_OP_TEXT || d->opcode == WS_OP_BINARY) {
		d->in_message = true;
		d->msg_opcode = d->opcode;
	}
	d->state = WS_READ_PAYLOAD;
}

/* Advances through the header stages whose bytes are all there; false on a violation. */
static bool header_advance(struct ws_decoder *d)
{
	while (d->state == WS_READ_HEADER && d->hdr_have == d->hdr_need) {
		switch (d->stage) {
		case WS_HDR_BASE:
			if (!check_base_header(d))
				return false;
			d->stage = WS_HDR_LENGTH;
			break;
		case WS_HDR_LENGTH:
			if (!check_length(d))
				return false;
			d->stage = WS_HDR_MASK;
			break;
		case WS_HDR_MASK:
			start_payload(d);
			break;
		}
	}
	return true;
}

/* dst = src XOR the mask key, eight bytes at a time; *pos is the payload offset mod 4. */
static void unmask_copy(uint8_t *dst, const uint8_t *src, size_t n, const uint8_t key[4],
			size_t *pos)
{
	uint8_t k8[8];
	uint64_t k, w;
	size_t i = 0;

	for (size_t j = 0; j < 8; j++)
		k8[j] = key[(*pos + j) & 3];
	memcpy(&k, k8, sizeof(k));
	for (; i + 8 <= n; i += 8) {
		memcpy(&w, src + i, sizeof(w));
		w ^= k;
		memcpy(dst + i, &w, sizeof(w));
	}
	for (; i < n; i++)
		dst[i] = src[i] ^ k8[i & 7];
	*pos = (*pos + n) & 3;
}

/* Grows the message buffer as bytes arrive (not as announced), never beyond max_message. */
static void message_reserve(struct ws_decoder *d, size_t need)
{
	size_t cap;

	if (need <= d->msg_cap)
		return;
	cap = d->msg_cap ? d->msg_cap : WS_MIN_BUFFER;
	while (cap < need)
		cap *= 2;
	if (cap > d->max_message)
		cap = d->max_message;
	/* +1 keeps room for a NUL after a complete message. */
	d->msg = xrealloc(d->msg, cap + 1);
	d->msg_cap = cap;
}

static void message_release(struct ws_decoder *d)
{
	d->msg_delivered = false;
	d->msg_len = 0;
	d->utf8_ok = 0;
	if (d->msg_cap > WS_KEEP_BUFFER) {
		free(d->msg);
		d->msg = NULL;
		d->msg_cap = 0;
	}
}

/* Copies payload bytes in; text is checked as it arrives so bad UTF-8 fails early. */
static bool read_payload(struct ws_decoder *d, const uint8_t *src, size_t n)
{
	if (is_control(d->opcode)) {
		unmask_copy(d->ctrl + d->ctrl_len, src, n, d->mask, &d->mask_pos);
		d->ctrl_len += n;
		return true;
	}
	message_reserve(d, d->msg_len + n);
	unmask_copy(d->msg + d->msg_len, src, n, d->mask, &d->mask_pos);
	d->msg_len += n;
	if (d->msg_opcode == WS_OP_TEXT) {
		size_t ok;
		/* Rescans at most the 3 bytes of a split character carried from before. */
		if (!validate_utf8_partial((const char *)d->msg + d->utf8_ok,
					   d->msg_len - d->utf8_ok, &ok))
			return fail(d, WS_CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in text message");
		d->utf8_ok += ok;
	}
	return true;
}

static bool finish_close(struct ws_decoder *d, struct ws_event *ev)
{
	ev->type = WS_EVENT_CLOSE;
	if (d->ctrl_len == 0) {
		ev->close_code = WS_CLOSE_NO_STATUS;
		ev->close_reason = (const char *)ws_empty;
		return true;
	}
	if (d->ctrl_len == 1)
		return fail(d, WS_CLOSE_PROTOCOL_ERROR, "close payload of one byte");
	ev->close_code = (uint16_t)(d->ctrl[0] << 8 | d->ctrl[1]);
	if (!close_code_allowed(ev->close_code))
		return fail(d, WS_CLOSE_PROTOCOL_ERROR, "close code not allowed on the wire");
	if (!validate_utf8((const char *)d->ctrl + 2, d->ctrl_len - 2))
		return fail(d, WS_CLOSE_INVALID_PAYLOAD, "invalid UTF-8 in close reason");
	ev->close_reason = (const char *)d->ctrl + 2;
	ev->close_reason_len = d->ctrl_len - 2;
	return true;
}

/*
 * The frame's payload is all in. Returns true with *has_event set when it completes an event
 * (a control frame or the final fragment), false on a violation.
 */
static bool finish_frame(struct ws_decoder *d, struct ws_event *ev, bool *has_event)
{
	d->state = WS_READ_HEADER;
	d->stage = WS_HDR_BASE;
	d->hdr_have = 0;
	d->hdr_need = 2;
	*has_event = false;
	memset(ev, 0, sizeof(*ev));
	if (is_control(d->opcode)) {
		d->ctrl[d->ctrl_len] = '\0';
		ev->data = d->ctrl;
		ev->len = d->ctrl_len;
		if (d->opcode == WS_OP_PING) {
			ev->type = WS_EVENT_PING;
		} else if (d->opcode == WS_OP_PONG) {
			ev->type = WS_EVENT_PONG;
		} else if (!finish_close(d, ev)) {
			return false;
		}
		*has_event = true;
		return true;
	}
	if (!d->fin)
		return true;
	if (d->msg_opcode == WS_OP_TEXT && d->utf8_ok != d->msg_len)
		return fail(d, WS_CLOSE_INVALID_PAYLOAD, "text message ends inside a character");
	if (d->msg) {
		d->msg[d->msg_len] = '\0';
		ev->data = d->msg;
	} else {
		ev->data = ws_empty;
	}
	ev->type = d->msg_opcode == WS_OP_TEXT ? WS_EVENT_TEXT : WS_EVENT_BINARY;
	ev->len = d->msg_len;
	d->in_message = false;
	d->msg_delivered = true;
	*has_event = true;
	return true;
}

enum ws_decode_result ws_decoder_next(struct ws_decoder *d, const uint8_t *buf, size_t len,
				      size_t *consumed, struct ws_event *ev, uint16_t *close_code,
				      const char **why)
{
	size_t pos = 0;
	bool has_event;

	*consumed = 0;
	if (d->state == WS_FAILED)
		goto failed;
	if (d->msg_delivered)
		message_release(d);
	for (;;) {
		while (d->state == WS_READ_HEADER) {
			size_t n = d->hdr_need - d->hdr_have;
			if (n > len - pos)
				n = len - pos;
			if (n > 0) {
				memcpy(d->hdr + d->hdr_have, buf + pos, n);
				d->hdr_have += n;
				pos += n;
			}
			if (!header_advance(d))
				goto failed;
			if (d->state == WS_READ_HEADER && pos == len)
				goto need_more;  /* input exhausted inside the header */
		}
		if (d->frame_left > 0) {
			size_t n = len - pos;
			if (n > d->frame_left)
				n = (size_t)d->frame_left;
			if (n > 0 && !read_payload(d, buf + pos, n))
				goto failed;
			d->frame_left -= n;
			pos += n;
			if (d->frame_left > 0)
				goto need_more;
		}
		if (!finish_frame(d, ev, &has_event))
			goto failed;
		if (has_event) {
			*consumed = pos;
			return WS_DECODE_EVENT;
		}
		if (pos == len)
			goto need_more;
	}
need_more:
	*consumed = pos;
	return WS_DECODE_NEED_MORE;

failed:
	/* The failing bytes count as consumed; a failed decoder keeps answering the same. */
	*consumed = pos;
	if (close_code)
		*close_code = d->error_code;
	if (why)
		*why = d->error_why;
	return WS_DECODE_ERROR;
}

size_t ws_frame_header(uint8_t out[10], enum ws_opcode opcode, bool fin, uint64_t len)
{
	out[0] = (uint8_t)((fin ? 0x80 : 0) | (opcode & 0x0f));
	if (len < 126) {
		out[1] = (uint8_t)len;
		return 2;
	}
	if (len <= 0xffff) {
		out[1] = 126;
		out[2] = (uint8_t)(len >> 8);
		out[3] = (uint8_t)len;
		return 4;
	}
	out[1] = 127;
	for (int i = 0; i < 8; i++)
		out[2 + i] = (uint8_t)(len >> (56 - 8 * i));
	return 10;
}

size_t ws_close_payload(uint8_t out[125], uint16_t code, const char *reason)
{
	size_t n = 0, whole = 0;

	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	if (reason)
		n = strnlen(reason, WS_CONTROL_MAX - 2);
	/* Cut before a character split by the limit; a reason that is not UTF-8 is dropped
	 * rather than sent, since the peer must fail the connection on it. */
	if (n > 0 && !validate_utf8_partial(reason, n, &whole))
		whole = 0;
	memcpy(out + 2, reason ? reason : "", whole);
	return 2 + whole;
}

/* Standard base64 alphabet, without padding. */
static bool is_base64_char(char c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	       c == '+' || c == '/';
}

/*
 * 16 bytes encode as 22 characters and "==". The low bits of the last character are not
 * required to be zero, as lenient decoders (Python's, among others) accept them too.
 */
bool ws_handshake_key_valid(const char *key, size_t len)
{
	if (!key || len != 24)
		return false;
	for (size_t i = 0; i < 22; i++) {
		if (!is_base64_char(key[i]))
			return false;
	}
	return key[22] == '=' && key[23] == '=';
}

void ws_handshake_accept(const char *key, size_t len, char out[29])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int md_len = 0;
	EVP_MD_CTX *ctx = EVP_MD_CTX_new();

	if (!ctx || !EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) ||
	    !EVP_DigestUpdate(ctx, key, len) ||
	    !EVP_DigestUpdate(ctx, ws_guid, sizeof(ws_guid) - 1) ||
	    !EVP_DigestFinal_ex(ctx, md, &md_len) || md_len != 20) {
		/* Only an allocation failure inside OpenSSL gets here: same policy as alloc.h. */
		fprintf(stderr, "level=fatal event=sha1_failed\n");
		abort();
	}
	EVP_MD_CTX_free(ctx);
	EVP_EncodeBlock((unsigned char *)out, md, 20);
}
