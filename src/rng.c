/* The deterministic generator: splitmix64 seeding xoshiro256** (NST_INIT_RANDOM, the tests). */
#include <math.h>

#include "internal.h"

static uint64_t splitmix64(uint64_t *x) {
	uint64_t z = (*x += UINT64_C(0x9E3779B97F4A7C15));
	z = (z ^ (z >> 30)) * UINT64_C(0xBF58476D1CE4E5B9);
	z = (z ^ (z >> 27)) * UINT64_C(0x94D049BB133111EB);
	return z ^ (z >> 31);
}

void nst_rng_seed(struct nst_rng *rng, uint64_t seed) {
	for (int i = 0; i < 4; i++)
		rng->s[i] = splitmix64(&seed);
}

static inline uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

uint64_t nst_rng_next(struct nst_rng *rng) {
	uint64_t *s = rng->s;
	const uint64_t result = rotl(s[1] * 5, 7) * 9;
	const uint64_t t = s[1] << 17;
	s[2] ^= s[0];
	s[3] ^= s[1];
	s[1] ^= s[2];
	s[0] ^= s[3];
	s[2] ^= t;
	s[3] = rotl(s[3], 45);
	return result;
}

double nst_rng_uniform(struct nst_rng *rng) {
	return (double)(nst_rng_next(rng) >> 11) * 0x1.0p-53; /* 53 random mantissa bits */
}

double nst_rng_normal(struct nst_rng *rng) {
	double u1;
	do {
		u1 = nst_rng_uniform(rng);
	} while (u1 <= 0.0);
	const double u2 = nst_rng_uniform(rng);
	return sqrt(-2.0 * log(u1)) * cos(2.0 * M_PI * u2);
}
