/*
 * fuzz.h: what the libFuzzer harnesses in tests/fuzz share.
 *
 * Each harness is one file fuzz_<target>.c defining
 * LLVMFuzzerTestOneInput().  A property that does not hold calls
 * FUZZ_ASSERT's report and abort(), which libFuzzer treats as a crash:
 * it stops and writes the input to the artifact directory, so a broken
 * property is kept exactly like a sanitizer finding.
 */
#ifndef RC_FUZZ_H
#define RC_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int	LLVMFuzzerTestOneInput(const uint8_t *, size_t);

#define FUZZ_ASSERT(cond, ...) do {					\
	if (!(cond)) {							\
		fprintf(stderr, "property failed at %s:%d: %s\n",	\
		    __FILE__, __LINE__, #cond);				\
		fprintf(stderr, __VA_ARGS__);				\
		fputc('\n', stderr);					\
		abort();						\
	}								\
} while (0)

/* A NUL-terminated copy of n bytes (malloc()ed; abort()s on no memory). */
static inline char *
fuzz_strndup(const uint8_t *data, size_t n)
{
	char	*s;

	if ((s = malloc(n + 1)) == NULL)
		abort();
	memcpy(s, data, n);
	s[n] = '\0';
	return (s);
}

#endif
