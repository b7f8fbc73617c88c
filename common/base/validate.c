#include "base/validate.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

enum utf8_scan_result { UTF8_VALID, UTF8_INVALID, UTF8_TRUNCATED };

/*
 * One pass over s. ASCII, the common case in JSON, is skipped eight bytes at a time; multi-byte
 * sequences are checked against the exact ranges of Unicode Table 3-7, where only the second
 * byte has a range narrower than 80..BF (this is what rules out overlongs, surrogates and code
 * points above U+10FFFF). *valid_len gets the length of the prefix of whole valid characters.
 */
static enum utf8_scan_result utf8_scan(const unsigned char *s, size_t len, size_t *valid_len)
{
	size_t i = 0;

	while (i < len) {
		unsigned char c = s[i];
		unsigned char lo = 0x80, hi = 0xbf;
		size_t n;

		if (c < 0x80) {
			i++;
			while (i + 8 <= len) {
				uint64_t w;
				memcpy(&w, s + i, sizeof(w));
				if (w & UINT64_C(0x8080808080808080))
					break;
				i += 8;
			}
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
		} else if (c == 0xe0) {
			n = 3;
			lo = 0xa0;
		} else if ((c >= 0xe1 && c <= 0xec) || c == 0xee || c == 0xef) {
			n = 3;
		} else if (c == 0xed) {
			n = 3;
			hi = 0x9f;
		} else if (c == 0xf0) {
			n = 4;
			lo = 0x90;
		} else if (c >= 0xf1 && c <= 0xf3) {
			n = 4;
		} else if (c == 0xf4) {
			n = 4;
			hi = 0x8f;
		} else {
			*valid_len = i;
			return UTF8_INVALID;
		}
		for (size_t k = 1; k < n; k++) {
			unsigned char b;
			if (i + k >= len) {
				*valid_len = i;
				return UTF8_TRUNCATED;
			}
			b = s[i + k];
			if (b < lo || b > hi) {
				*valid_len = i;
				return UTF8_INVALID;
			}
			lo = 0x80;
			hi = 0xbf;
		}
		i += n;
	}
	*valid_len = len;
	return UTF8_VALID;
}

bool validate_utf8(const char *s, size_t len)
{
	size_t valid_len;

	if (!s)
		return len == 0;
	return utf8_scan((const unsigned char *)s, len, &valid_len) == UTF8_VALID;
}

bool validate_utf8_partial(const char *s, size_t len, size_t *complete_len)
{
	*complete_len = 0;
	if (!s)
		return len == 0;
	return utf8_scan((const unsigned char *)s, len, complete_len) != UTF8_INVALID;
}

static bool is_space(unsigned char c)
{
	return c == ' ' || (c >= '\t' && c <= '\r');
}

const char *validate_trim(const char *s, size_t *len)
{
	size_t n = strlen(s);

	while (n > 0 && is_space((unsigned char)*s)) {
		s++;
		n--;
	}
	while (n > 0 && is_space((unsigned char)s[n - 1]))
		n--;
	*len = n;
	return s;
}

/* Decodes the character at s[*i] of already validated UTF-8 and advances *i past it. */
static uint32_t utf8_next(const unsigned char *s, size_t *i)
{
	unsigned char c = s[*i];
	uint32_t cp;
	size_t n;

	if (c < 0x80) {
		(*i)++;
		return c;
	}
	if (c < 0xe0) {
		cp = c & 0x1f;
		n = 2;
	} else if (c < 0xf0) {
		cp = c & 0x0f;
		n = 3;
	} else {
		cp = c & 0x07;
		n = 4;
	}
	for (size_t k = 1; k < n; k++)
		cp = (cp << 6) | (s[*i + k] & 0x3f);
	*i += n;
	return cp;
}

static bool is_forbidden_codepoint(uint32_t cp)
{
	return cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x2028 || cp == 0x2029 ||
	       (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069);
}

static void set_why(const char **why, const char *reason)
{
	if (why)
		*why = reason;
}

/* Valid UTF-8 without forbidden characters; sets *why on failure. */
static bool check_text(const char *s, size_t len, const char *what_invalid,
		       const char *what_control, const char **why)
{
	const unsigned char *u = (const unsigned char *)s;

	if (!validate_utf8(s, len)) {
		set_why(why, what_invalid);
		return false;
	}
	for (size_t i = 0; i < len;) {
		if (is_forbidden_codepoint(utf8_next(u, &i))) {
			set_why(why, what_control);
			return false;
		}
	}
	return true;
}

bool validate_email_normalize(const char *in, char *out, size_t out_size, const char **why)
{
	const char *s;
	size_t len, at = 0, ats = 0;

	if (out && out_size > 0)
		out[0] = '\0';
	if (!in) {
		set_why(why, "email is required");
		return false;
	}
	s = validate_trim(in, &len);
	if (len == 0) {
		set_why(why, "email is required");
		return false;
	}
	if (len > VALIDATE_EMAIL_MAX) {
		set_why(why, "email is too long (at most 254 bytes)");
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == 0x7f) {
			set_why(why, "email must not contain spaces or control characters");
			return false;
		}
		if (c < 0x80 && strchr("\"(),:;<>[\\]", c)) {
			set_why(why, "email contains a character that is not allowed");
			return false;
		}
		if (c == '@') {
			at = i;
			ats++;
		}
	}
	if (ats != 1) {
		set_why(why, "email must contain exactly one '@'");
		return false;
	}
	if (at == 0) {
		set_why(why, "email is missing the part before '@'");
		return false;
	}
	if (at > VALIDATE_EMAIL_LOCAL_MAX) {
		set_why(why, "email part before '@' is too long (at most 64 bytes)");
		return false;
	}
	{
		const char *domain = s + at + 1;
		size_t dlen = len - at - 1;
		bool dot = false;
		if (dlen == 0 || domain[0] == '.' || domain[dlen - 1] == '.') {
			set_why(why, "email domain is not valid");
			return false;
		}
		for (size_t i = 0; i < dlen; i++) {
			if (domain[i] != '.')
				continue;
			dot = true;
			if (domain[i + 1] == '.') {
				set_why(why, "email domain is not valid");
				return false;
			}
		}
		if (!dot) {
			set_why(why, "email domain must contain a dot");
			return false;
		}
	}
	if (!check_text(s, len, "email is not valid UTF-8",
			"email must not contain spaces or control characters", why))
		return false;
	if (!out || out_size < len + 1) {
		set_why(why, "email is too long");
		return false;
	}
	for (size_t i = 0; i < len; i++) {
		char c = s[i];
		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[len] = '\0';
	return true;
}

bool validate_display_name(const char *s, const char **why)
{
	const char *t;
	size_t len;

	if (!s) {
		set_why(why, "display name is required");
		return false;
	}
	t = validate_trim(s, &len);
	if (len == 0) {
		set_why(why, "display name must not be empty");
		return false;
	}
	if (len > VALIDATE_DISPLAY_NAME_MAX) {
		set_why(why, "display name is too long (at most 100 bytes)");
		return false;
	}
	return check_text(t, len, "display name is not valid UTF-8",
			  "display name must not contain control characters", why);
}

bool validate_password(const char *s, const char **why)
{
	size_t len;

	if (!s) {
		set_why(why, "password is required");
		return false;
	}
	len = strlen(s);
	if (len < VALIDATE_PASSWORD_MIN) {
		set_why(why, "password is too short (at least 8 bytes)");
		return false;
	}
	if (len > VALIDATE_PASSWORD_MAX) {
		set_why(why, "password is too long (at most 256 bytes)");
		return false;
	}
	return true;
}

bool validate_name(const char *s, size_t max, const char **why)
{
	size_t len, trimmed_len;

	if (!s) {
		set_why(why, "name is required");
		return false;
	}
	len = strlen(s);
	(void)validate_trim(s, &trimmed_len);
	if (trimmed_len == 0) {
		set_why(why, "name must not be empty");
		return false;
	}
	if (len > max) {
		set_why(why, "name is too long");
		return false;
	}
	return check_text(s, len, "name is not valid UTF-8",
			  "name must not contain control characters", why);
}

static bool is_hex(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

/* Days since 1970-01-01 of a proleptic Gregorian date, and back (the civil-date algorithms
 * of H. Hinnant, restricted to years >= 1970, where no division rounds negatively). */
static long days_from_civil(long y, unsigned m, unsigned d)
{
	y -= m <= 2;
	long era = y / 400;
	unsigned yoe = (unsigned)(y - era * 400);
	unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (long)doe - 719468;
}

bool validate_date(const char *s, long *days)
{
	if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return false;
	for (int i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return false;
	long y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0');
	unsigned m = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
	unsigned d = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
	static const unsigned month_days[] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
	if (y < 1970 || m < 1 || m > 12 || d < 1 ||
	    d > month_days[m - 1] + (m == 2 && leap ? 1u : 0u))
		return false;
	*days = days_from_civil(y, m, d);
	return true;
}

void validate_date_format(long days, char out[11])
{
	long z = days + 719468;
	long era = z / 146097;
	unsigned doe = (unsigned)(z - era * 146097);
	unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	long y = (long)yoe + era * 400;
	unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	unsigned mp = (5 * doy + 2) / 153;
	unsigned d = doy - (153 * mp + 2) / 5 + 1;
	unsigned m = mp < 10 ? mp + 3 : mp - 9;
	y += m <= 2;
	snprintf(out, 11, "%04u-%02u-%02u", (unsigned)(y < 0 ? 0 : y % 10000), m % 100, d % 100);
}

bool validate_uuid(const char *s)
{
	if (!s)
		return false;
	for (size_t i = 0; i < VALIDATE_UUID_LEN; i++) {
		bool dash = i == 8 || i == 13 || i == 18 || i == 23;
		/* The NUL of a short string fails both tests, so we never read past it. */
		if (dash ? s[i] != '-' : !is_hex(s[i]))
			return false;
	}
	return s[VALIDATE_UUID_LEN] == '\0';
}
