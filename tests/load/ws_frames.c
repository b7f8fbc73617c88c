#include "ws_frames.h"

#include <string.h>

size_t wsf_client_header(uint8_t out[WSF_MAX_CLIENT_HEADER], enum wsf_opcode opcode, bool fin,
			 uint64_t len, const uint8_t mask[4])
{
	size_t n = 0;
	out[n++] = (uint8_t)((fin ? 0x80 : 0x00) | (opcode & 0x0f));
	/* The shortest form that fits, as RFC 6455 §5.2 requires of every endpoint. */
	if (len < 126) {
		out[n++] = (uint8_t)(0x80 | len);
	} else if (len <= 0xffff) {
		out[n++] = 0x80 | 126;
		out[n++] = (uint8_t)(len >> 8);
		out[n++] = (uint8_t)len;
	} else {
		out[n++] = 0x80 | 127;
		for (int shift = 56; shift >= 0; shift -= 8)
			out[n++] = (uint8_t)(len >> shift);
	}
	memcpy(out + n, mask, 4);
	return n + 4;
}

void wsf_mask(uint8_t *data, size_t len, const uint8_t mask[4], uint64_t offset)
{
	for (size_t i = 0; i < len; i++)
		data[i] ^= mask[(offset + i) & 3];
}

size_t wsf_encode_client_frame(uint8_t *out, enum wsf_opcode opcode, const void *payload,
			       size_t len, const uint8_t mask[4])
{
	size_t header = wsf_client_header(out, opcode, true, len, mask);
	if (len)
		memcpy(out + header, payload, len);
	wsf_mask(out + header, len, mask, 0);
	return header + len;
}

static bool opcode_known(uint8_t op)
{
	return op == WSF_CONTINUATION || op == WSF_TEXT || op == WSF_BINARY || op == WSF_CLOSE ||
	       op == WSF_PING || op == WSF_PONG;
}

enum wsf_result wsf_parse_server_header(const uint8_t *buf, size_t len, struct wsf_header *h,
					const char **why)
{
	if (len < 2)
		return WSF_NEED_MORE;
	uint8_t b0 = buf[0], b1 = buf[1];
	if (b0 & 0x70) {
		*why = "RSV bit set without a negotiated extension";
		return WSF_BAD;
	}
	h->fin = (b0 & 0x80) != 0;
	h->opcode = b0 & 0x0f;
	if (!opcode_known(h->opcode)) {
		*why = "unknown opcode";
		return WSF_BAD;
	}
	if (b1 & 0x80) {
		*why = "masked frame from the server";
		return WSF_BAD;
	}
	uint64_t n = b1 & 0x7f;
	size_t header = 2;
	if (n == 126) {
		if (len < 4)
			return WSF_NEED_MORE;
		n = (uint64_t)buf[2] << 8 | buf[3];
		header = 4;
		if (n < 126) {
			*why = "16-bit length where 7 bits fit";
			return WSF_BAD;
		}
	} else if (n == 127) {
		if (len < 10)
			return WSF_NEED_MORE;
		n = 0;
		for (int i = 2; i < 10; i++)
			n = n << 8 | buf[i];
		header = 10;
		if (n >> 63) {
			*why = "64-bit length with the top bit set";
			return WSF_BAD;
		}
		if (n <= 0xffff) {
			*why = "64-bit length where 16 bits fit";
			return WSF_BAD;
		}
	}
	if (h->opcode >= WSF_CLOSE) {
		if (!h->fin) {
			*why = "fragmented control frame";
			return WSF_BAD;
		}
		if (n > WSF_MAX_CONTROL_PAYLOAD) {
			*why = "control frame longer than 125 bytes";
			return WSF_BAD;
		}
	}
	h->header_len = header;
	h->payload_len = n;
	return WSF_OK;
}

/*
 * Table 3-7 of the Unicode standard, byte by byte: the ranges a second byte may take depend on
 * the first (that is what excludes overlongs, surrogates and values above U+10FFFF).
 */
bool wsf_utf8_valid(const uint8_t *s, size_t len)
{
	size_t i = 0;
	while (i < len) {
		uint8_t c = s[i];
		if (c < 0x80) {
			i++;
			continue;
		}
		size_t need;
		uint8_t lo = 0x80, hi = 0xbf;
		if (c >= 0xc2 && c <= 0xdf) {
			need = 1;
		} else if (c >= 0xe0 && c <= 0xef) {
			need = 2;
			if (c == 0xe0)
				lo = 0xa0;
			else if (c == 0xed)
				hi = 0x9f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			need = 3;
			if (c == 0xf0)
				lo = 0x90;
			else if (c == 0xf4)
				hi = 0x8f;
		} else {
			return false;
		}
		if (len - i - 1 < need)
			return false;
		if (s[i + 1] < lo || s[i + 1] > hi)
			return false;
		for (size_t k = 2; k <= need; k++)
			if ((s[i + k] & 0xc0) != 0x80)
				return false;
		i += need + 1;
	}
	return true;
}

static bool close_code_sendable(uint16_t code)
{
	if (code >= 3000 && code <= 4999)
		return true;
	/* 1004-1006 and 1015 are reserved: they must never appear in a close frame. */
	return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014);
}

bool wsf_close_payload_valid(const uint8_t *p, size_t len, uint16_t *code, const char **why)
{
	if (len == 0) {
		*code = 1005;
		return true;
	}
	if (len == 1) {
		*why = "close payload of one byte";
		return false;
	}
	*code = (uint16_t)(p[0] << 8 | p[1]);
	if (!close_code_sendable(*code)) {
		*why = "close code that may not be sent";
		return false;
	}
	if (!wsf_utf8_valid(p + 2, len - 2)) {
		*why = "close reason is not UTF-8";
		return false;
	}
	return true;
}

size_t wsf_close_payload(uint8_t out[WSF_MAX_CONTROL_PAYLOAD], uint16_t code, const char *reason)
{
	out[0] = (uint8_t)(code >> 8);
	out[1] = (uint8_t)code;
	size_t n = reason ? strlen(reason) : 0;
	if (n > WSF_MAX_CONTROL_PAYLOAD - 2) {
		n = WSF_MAX_CONTROL_PAYLOAD - 2;
		/* Cut on a character boundary: never leave half a UTF-8 sequence. */
		while (n > 0 && ((uint8_t)reason[n] & 0xc0) == 0x80)
			n--;
	}
	if (n)
		memcpy(out + 2, reason, n);
	return n + 2;
}
