/*
 * What the load generators (commit_bench.c, ws_load.c) share: fatal errors, a fast seeded
 * PRNG (xoshiro256**, so a run can be repeated with --seed), and the loopback-only endpoint
 * parser that keeps these tools from being pointed at anyone else's server.
 */
#ifndef FLOWSTATE_LOADGEN_H
#define FLOWSTATE_LOADGEN_H

#include <stdint.h>

/* Names the program in die() messages. */
void loadgen_set_program(const char *name);
/* Prints "<program>: <message>" and exits 2. */
void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

/* seed 0: a random seed from getrandom(). */
void rng_seed(uint64_t seed);
uint64_t rng_next(void);

/*
 * Parses "[http://|ws://]127.0.0.1:PORT[/]" for option `option`; anything else, including any
 * other address, is fatal. host_header gets "127.0.0.1:PORT".
 */
void loadgen_parse_loopback(const char *option, const char *arg, char host[16], int *port,
			    char host_header[32]);

#endif
