/*
 * The client side of RFC 6455 framing, for the WebSocket load generator (ws_load). It is
 * written apart from the node's codec (common/ws_codec.c) on purpose: ws_load encodes what the
 * node decodes and decodes what the node encodes, so the two implementations check each other
 * on every frame of every benchmark run.
 *
 * Encoding: every client frame is masked (RFC 6455 §5.3) with the 4-byte key the caller draws
 * for that frame.
 * Decoding: a server frame header is refused (WSF_BAD, with a static reason) when a client must
 * fail the connection over it: the mask bit set (servers never mask), an RSV bit set (no
 * extension is negotiated), an unknown opcode, a length not in its minimal encoding or with
 * the top bit of the 64-bit form set, or a control frame that is fragmented or longer than 125
 * bytes. Text payloads are checked with wsf_utf8_valid, close payloads with
 * wsf_close_payload_valid.
 *
 * Ownership: pure functions over caller buffers; nothing is allocated or kept.
 */
#ifndef FLOWSTATE_WS_FRAMES_H
#define FLOWSTATE_WS_FRAMES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A client frame header: 2 bytes, up to 8 of extended length, 4 of masking key. */
#define WSF_MAX_CLIENT_HEADER 14
/* A server frame header has no masking key. */
#define WSF_MAX_SERVER_HEADER 10
#define WSF_MAX_CONTROL_PAYLOAD 125

enum wsf_opcode {
	WSF_CONTINUATION = 0x0,
	WSF_TEXT = 0x1,
	WSF_BINARY = 0x2,
	WSF_CLOSE = 0x8,
	WSF_PING = 0x9,
	WSF_PONG = 0xA,
};

/*
 * Writes the header of a masked client frame carrying len payload bytes; returns its size
 * (6..14). The payload that follows it must be masked with the same key (wsf_mask).
 */
size_t wsf_client_header(uint8_t out[WSF_MAX_CLIENT_HEADER], enum wsf_opcode opcode, bool fin,
			 uint64_t len, const uint8_t mask[4]);

/* XORs data with the masking key; offset is the position of data[0] in the frame's payload. */
void wsf_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset);

/*
 * A whole masked client frame: header then masked payload into out, which must hold
 * len + WSF_MAX_CLIENT_HEADER bytes. Returns the frame's size.
 */
size_t wsf_encode_client_frame(uint8_t *out, enum wsf_opcode opcode, const void *payload,
			       size_t len, const uint8_t mask[4]);

struct wsf_header {
	uint8_t opcode;
	bool fin;
	size_t header_len;     /* 2..10 */
	uint64_t payload_len;
};

enum wsf_result {
	WSF_OK,          /* *h is filled */
	WSF_NEED_MORE,   /* buf holds only part of the header */
	WSF_BAD,         /* the connection must be failed: *why says why */
};

/* Parses the header of a server frame at the start of buf[0..len). */
enum wsf_result wsf_parse_server_header(const uint8_t *buf, size_t len, struct wsf_header *h,
					const char **why) __attribute__((warn_unused_result));

/*
 * Strict UTF-8 (RFC 3629): no overlong forms, no surrogates, nothing above U+10FFFF, no
 * truncated sequence at the end.
 */
bool wsf_utf8_valid(const uint8_t *s, size_t len) __attribute__((warn_unused_result));

/*
 * A close frame's payload: empty (*code = 1005, "no status"), or a 2-byte code that may be
 * sent on the wire (1000-1003, 1007-1011, 1012-1014, 3000-4999) followed by a UTF-8 reason.
 * False with *why set for a 1-byte payload, a reserved code or an invalid reason.
 */
bool wsf_close_payload_valid(const uint8_t *p, size_t len, uint16_t *code, const char **why)
	__attribute__((warn_unused_result));

/* The payload of a close frame: code (big-endian) and reason truncated to fit 125 bytes. */
size_t wsf_close_payload(uint8_t out[WSF_MAX_CONTROL_PAYLOAD], uint16_t code, const char *reason);

#endif
