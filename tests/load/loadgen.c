#include "loadgen.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

static const char *program = "loadgen";
static uint64_t rng_state[4];

void loadgen_set_program(const char *name)
{
	program = name;
}

void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fprintf(stderr, "%s: ", program);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static uint64_t rotl(uint64_t x, int k)
{
	return (x << k) | (x >> (64 - k));
}

uint64_t rng_next(void)
{
	uint64_t *s = rng_state;
	uint64_t result = rotl(s[1] * 5, 7) * 9, t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

void rng_seed(uint64_t seed)
{
	if (seed == 0 && getrandom(&seed, sizeof(seed), 0) != (ssize_t)sizeof(seed))
		die("getrandom: %s", strerror(errno));
	/* splitmix64 expands the seed into the four words of state. */
	for (int i = 0; i < 4; i++) {
		uint64_t z = (seed += 0x9e3779b97f4a7c15ull);
		z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
		z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
		rng_state[i] = z ^ (z >> 31);
	}
}

void loadgen_parse_loopback(const char *option, const char *arg, char host[16], int *port,
			    char host_header[32])
{
	const char *s = arg;
	if (strncmp(s, "http://", 7) == 0)
		s += 7;
	else if (strncmp(s, "ws://", 5) == 0)
		s += 5;
	int used = 0;
	*port = 0;
	if (sscanf(s, "%15[0-9.]:%d%n", host, port, &used) != 2 ||
	    (s[used] != '\0' && strcmp(s + used, "/") != 0) || *port < 1 || *port > 65535)
		die("%s %s: expected 127.0.0.1:PORT", option, arg);
	/* A loopback tool: refusing anything else keeps it from being pointed at someone else's
	 * server by accident. */
	if (strcmp(host, "127.0.0.1") != 0)
		die("%s %s: only 127.0.0.1 is allowed", option, arg);
	snprintf(host_header, 32, "127.0.0.1:%d", *port);
}
