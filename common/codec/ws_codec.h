/*
 * RFC 6455 WebSocket codec, pure (no sockets): the server side's decoder of client frames
 * with message reassembly, the encoder of server frames, and the opening handshake helpers.
 *
 * The decoder enforces every rule a server must: client frames masked, RSV bits zero (no
 * extensions are negotiated), known opcodes, control frames final and <= 125 bytes, minimal
 * length encoding, continuation only inside a fragmented message and a new data frame only
 * outside one, text messages valid UTF-8 (checked incrementally as fragments arrive), close
 * payloads well-formed, and a bound on message size. A violation yields WS_DECODE_ERROR with the
 * close code to send (1002 protocol error, 1007 invalid payload data, 1009 message too big).
 *
 * Ownership: the decoder copies what it needs; event payloads point into the decoder and stay
 * valid until the next call to ws_decoder_next() or ws_decoder_free().
 */
#ifndef FLOWSTATE_WS_CODEC_H
#define FLOWSTATE_WS_CODEC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum ws_opcode {
	WS_OP_CONTINUATION = 0x0,
	WS_OP_TEXT = 0x1,
	WS_OP_BINARY = 0x2,
	WS_OP_CLOSE = 0x8,
	WS_OP_PING = 0x9,
	WS_OP_PONG = 0xA,
};

enum ws_close_code {
	WS_CLOSE_NORMAL = 1000,
	WS_CLOSE_GOING_AWAY = 1001,
	WS_CLOSE_PROTOCOL_ERROR = 1002,
	WS_CLOSE_UNSUPPORTED = 1003,
	WS_CLOSE_NO_STATUS = 1005,      /* never sent: "no code in the close frame" */
	WS_CLOSE_INVALID_PAYLOAD = 1007,
	WS_CLOSE_POLICY = 1008,
	WS_CLOSE_TOO_BIG = 1009,
	WS_CLOSE_INTERNAL = 1011,
	WS_CLOSE_TRY_AGAIN_LATER = 1013,
};

enum ws_event_type {
	WS_EVENT_TEXT,      /* a complete text message (valid UTF-8) */
	WS_EVENT_BINARY,    /* a complete binary message */
	WS_EVENT_PING,
	WS_EVENT_PONG,
	WS_EVENT_CLOSE,     /* close_code (WS_CLOSE_NO_STATUS if none) and reason */
};

struct ws_event {
	enum ws_event_type type;
	const uint8_t *data;    /* message / control payload (unmasked) */
	size_t len;
	uint16_t close_code;
	const char *close_reason;  /* NUL-terminated, valid UTF-8 */
	size_t close_reason_len;
};

enum ws_decode_result {
	WS_DECODE_EVENT,       /* *ev is filled; call again with the remaining bytes */
	WS_DECODE_NEED_MORE,   /* all input consumed (buffered) without completing an event */
	WS_DECODE_ERROR,       /* fail the connection with *close_code; *why is a static reason */
};

struct ws_decoder;

/* max_message bounds a reassembled data message (and so any single frame). */
struct ws_decoder *ws_decoder_new(size_t max_message);
void ws_decoder_free(struct ws_decoder *d);

/*
 * Consumes bytes from buf[0..len) (*consumed says how many) until one event is complete, all
 * input is used, or an error. Bytes of a partial frame are kept inside the decoder.
 */
enum ws_decode_result ws_decoder_next(struct ws_decoder *d, const uint8_t *buf, size_t len,
				      size_t *consumed, struct ws_event *ev, uint16_t *close_code,
				      const char **why);

/* Writes an unmasked server frame header for a payload of len bytes; returns its size (2..10). */
size_t ws_frame_header(uint8_t out[10], enum ws_opcode opcode, bool fin, uint64_t len);

/* Builds a close payload (code + reason truncated to fit 125 bytes on a UTF-8 boundary). */
size_t ws_close_payload(uint8_t out[125], uint16_t code, const char *reason);

/* True when key is the base64 encoding of exactly 16 bytes (Sec-WebSocket-Key). */
bool ws_handshake_key_valid(const char *key, size_t len);
/* Sec-WebSocket-Accept for a client key: base64(SHA-1(key + GUID)), 28 chars + NUL. */
void ws_handshake_accept(const char *key, size_t len, char out[29]);

#endif
