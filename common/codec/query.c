#include "codec/query.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

static int hex_value(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* Decodes one byte of s[*i..len) ('+' is a space); false on a malformed %-escape. */
static bool decode_next(const char *s, size_t len, size_t *i, unsigned char *out)
{
	unsigned char ch = (unsigned char)s[*i];
	if (ch == '+') {
		*out = ' ';
		*i += 1;
		return true;
	}
	if (ch != '%') {
		*out = ch;
		*i += 1;
		return true;
	}
	if (len - *i < 3)
		return false;
	int hi = hex_value((unsigned char)s[*i + 1]);
	int lo = hex_value((unsigned char)s[*i + 2]);
	if (hi < 0 || lo < 0)
		return false;
	*out = (unsigned char)(hi * 16 + lo);
	*i += 3;
	return true;
}

/* A key that fails to decode matches nothing: it cannot be the key being asked for. */
static bool key_equals(const char *s, size_t len, const char *key)
{
	size_t i = 0, k = 0;
	size_t key_len = strlen(key);
	while (i < len) {
		unsigned char ch;
		if (!decode_next(s, len, &i, &ch))
			return false;
		if (k >= key_len || ch != (unsigned char)key[k])
			return false;
		k++;
	}
	return k == key_len;
}

/* Finds the raw (still encoded) value of the first pair named key. */
static bool query_find(struct http_slice query, const char *key, struct http_slice *raw)
{
	size_t i = 0;
	while (i < query.len) {
		size_t start = i;
		while (i < query.len && query.ptr[i] != '&')
			i++;
		size_t end = i++;
		size_t eq = start;
		while (eq < end && query.ptr[eq] != '=')
			eq++;
		if (end > start && key_equals(query.ptr + start, eq - start, key)) {
			size_t value_start = eq < end ? eq + 1 : end;
			*raw = (struct http_slice){ query.ptr + value_start, end - value_start };
			return true;
		}
	}
	return false;
}

static bool decode_value(struct http_slice raw, char *out, size_t out_size)
{
	if (out_size == 0)
		return false;
	size_t i = 0, o = 0;
	while (i < raw.len) {
		unsigned char ch;
		if (!decode_next(raw.ptr, raw.len, &i, &ch) || ch == '\0' || o + 1 >= out_size)
			goto fail;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return true;
fail:
	out[0] = '\0';
	return false;
}

bool query_get(struct http_slice query, const char *key, char *out, size_t out_size)
{
	struct http_slice raw;
	if (!query_find(query, key, &raw)) {
		if (out_size > 0)
			out[0] = '\0';
		return false;
	}
	return decode_value(raw, out, out_size);
}

bool query_get_decimal(struct http_slice query, const char *key, double min, double max,
		       double *out, bool *present)
{
	char text[17];
	if (present)
		*present = query_has(query, key);
	if (!query_has(query, key))
		return true;
	if (!query_get(query, key, text, sizeof(text)))
		return false;
	size_t i = 0, digits = 0, fraction = 0;
	while (text[i] >= '0' && text[i] <= '9')
		i++, digits++;
	if (text[i] == '.') {
		i++;
		while (text[i] >= '0' && text[i] <= '9')
			i++, fraction++;
		if (fraction == 0)
			return false;
	}
	if (digits == 0 || text[i] != '\0')
		return false;
	double v = strtod(text, NULL);
	if (!(v >= min && v <= max))
		return false;
	*out = v;
	return true;
}

bool query_has(struct http_slice query, const char *key)
{
	struct http_slice raw;
	return query_find(query, key, &raw);
}

/* [-]digits only, within long long; leading zeros are harmless and accepted. */
static bool parse_decimal(const char *s, long long *out)
{
	bool negative = *s == '-';
	if (negative)
		s++;
	if (*s == '\0')
		return false;
	unsigned long long limit = negative ? (unsigned long long)LLONG_MAX + 1 : LLONG_MAX;
	unsigned long long n = 0;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		unsigned digit = (unsigned)(*s - '0');
		if (n > (limit - digit) / 10)
			return false;
		n = n * 10 + digit;
	}
	if (negative)
		*out = n == (unsigned long long)LLONG_MAX + 1 ? LLONG_MIN : -(long long)n;
	else
		*out = (long long)n;
	return true;
}

bool query_get_int64(struct http_slice query, const char *key, long long min, long long max,
		     long long *out, bool *present)
{
	struct http_slice raw;
	bool found = query_find(query, key, &raw);
	if (present)
		*present = found;
	if (!found)
		return true;
	char text[64];
	long long value;
	if (!decode_value(raw, text, sizeof(text)) || !parse_decimal(text, &value))
		return false;
	if (value < min || value > max)
		return false;
	*out = value;
	return true;
}

/* "{}" forming a whole pattern segment. */
static bool is_capture(const char *pattern, const char *p)
{
	return p > pattern && p[-1] == '/' && p[0] == '{' && p[1] == '}' &&
	       (p[2] == '/' || p[2] == '\0');
}

bool path_match(struct http_slice path, const char *pattern, struct http_slice *captures,
		size_t max_captures, size_t *ncaptures)
{
	size_t i = 0, n = 0;
	if (ncaptures)
		*ncaptures = 0;
	for (const char *p = pattern; *p;) {
		if (is_capture(pattern, p)) {
			size_t start = i;
			while (i < path.len && path.ptr[i] != '/')
				i++;
			size_t seg = i - start;
			const char *s = path.ptr + start;
			if (seg == 0 || (seg == 1 && s[0] == '.') ||
			    (seg == 2 && s[0] == '.' && s[1] == '.'))
				return false;
			if (n >= max_captures)
				return false;
			captures[n++] = (struct http_slice){ s, seg };
			p += 2;
			continue;
		}
		if (i >= path.len || path.ptr[i] != *p)
			return false;
		i++;
		p++;
	}
	if (i != path.len)
		return false;
	if (ncaptures)
		*ncaptures = n;
	return true;
}
