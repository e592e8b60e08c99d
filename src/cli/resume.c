/*
 * What a checkpoint was made with (src/cli/cli.h): beside CHECKPOINT, a small text file
 * CHECKPOINT.options holds the options that decide the result, one per line ("--style-weight
 * 100").  --resume compares them one by one, so that a refusal names the option that differs;
 * the library's fingerprint in the checkpoint stays the final word.  A checkpoint without the
 * file (copied alone, or older) is checked by the fingerprint only.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define OPTIONS_SUFFIX ".options"
#define LINE_BYTES (CLI_PATH_BYTES + 64) /* "key value": a path at the most */
#define THREADS_KEY "--threads"

bool cli_run_options_path(const char *checkpoint, char *buf, size_t size) {
	const int len = snprintf(buf, size, "%s" OPTIONS_SUFFIX, checkpoint);
	return len > 0 && (size_t)len < size;
}

int cli_write_run_options(const char *checkpoint, const char *text) {
	struct cli_file f = {.what = "--checkpoint"};
	if (!cli_run_options_path(checkpoint, f.path, sizeof f.path))
		return ENAMETOOLONG;
	f.name = f.path;
	return cli_write_bytes(&f, text, strlen(text));
}

/* The value of `key` in a description ("key value" lines), into buf; false if absent. */
static bool find_value(const char *text, const char *key, char *buf, size_t size) {
	const size_t klen = strlen(key);
	for (const char *line = text; *line;) {
		const char *end = strchr(line, '\n');
		const size_t len = end ? (size_t)(end - line) : strlen(line);
		if (len > klen && !strncmp(line, key, klen) && line[klen] == ' ') {
			snprintf(buf, size, "%.*s", (int)(len - klen - 1), line + klen + 1);
			return true;
		}
		line += len + (end ? 1 : 0);
	}
	return false;
}

#define FLOAT_DIGITS 9 /* %.9g gives back any float */

/* The keys whose values are floats (lists of them): compared as numbers; every other value (paths,
 * names, the seed, the weights' checksum, counts) as text. */
static bool float_key(const char *key) {
	static const char *const keys[] = {"--style-blend",  "--style-scale",  "--style-layer-weights", "--content-weight",
	                                   "--style-weight", "--tv-weight",    "--lr",                  "--tolerance"};
	for (size_t i = 0; i < sizeof keys / sizeof keys[0]; i++)
		if (!strcmp(key, keys[i]))
			return true;
	return false;
}

/* A token of a value list ("100", "4096,16384"): a number if it parses whole. */
static bool token_number(const char *token, size_t len, float *v) {
	char buf[64];
	if (len == 0 || len >= sizeof buf)
		return false;
	memcpy(buf, token, len);
	buf[len] = '\0';
	char *end;
	*v = strtof(buf, &end);
	return *end == '\0';
}

/* Values equal token by token: numbers as floats (a description written with more digits than a
 * float needs, 0.0199999996, is 0.02), anything else as text. */
static bool same_values(const char *a, const char *b) {
	for (;;) {
		const size_t la = strcspn(a, ","), lb = strcspn(b, ",");
		float x, y;
		const bool numbers = token_number(a, la, &x) && token_number(b, lb, &y);
		if (numbers ? x != y : (la != lb || strncmp(a, b, la)))
			return false;
		if (!a[la] || !b[lb])
			return !a[la] && !b[lb];
		a += la + 1;
		b += lb + 1;
	}
}

/* A value for a message: each number with the fewest digits that give its float back. */
static void shortest(const char *value, char *out, size_t size) {
	size_t used = 0;
	out[0] = '\0';
	for (const char *t = value;;) {
		const size_t len = strcspn(t, ",");
		float v;
		int n = 0;
		if (token_number(t, len, &v)) {
			/* plain digits where they do (3000, not 3e+03), else the shortest with an exponent (1e-05) */
			char digits[32] = "";
			for (int pass = 0; pass < 2 && !digits[0]; pass++)
				for (int p = 1; p <= FLOAT_DIGITS; p++) {
					char d[32];
					snprintf(d, sizeof d, "%.*g", p, (double)v);
					if (strtof(d, NULL) == v && (pass == 1 || !strchr(d, 'e'))) {
						snprintf(digits, sizeof digits, "%s", d);
						break;
					}
				}
			n = snprintf(out + used, size - used, "%s%s", used ? "," : "", digits);
		} else {
			n = snprintf(out + used, size - used, "%s%.*s", used ? "," : "", (int)len, t);
		}
		if (n < 0 || used + (size_t)n >= size)
			return;
		used += (size_t)n;
		if (!t[len])
			return;
		t += len + 1;
	}
}

int cli_check_run_options(const char *checkpoint, const char *text, int *checkpoint_threads) {
	*checkpoint_threads = 0;
	char path[CLI_PATH_BYTES];
	if (!cli_run_options_path(checkpoint, path, sizeof path))
		return EXIT_OK;
	FILE *f = fopen(path, "r");
	if (!f)
		return EXIT_OK; /* no description: the library's fingerprint decides */
	char differs[2 * LINE_BYTES] = "", line[LINE_BYTES], now[LINE_BYTES];
	int n_differ = 0;
	while (fgets(line, sizeof line, f)) {
		line[strcspn(line, "\n")] = '\0';
		char *space = strchr(line, ' ');
		if (!space)
			continue;
		*space = '\0';
		const char *then = space + 1;
		if (!find_value(text, line, now, sizeof now))
			snprintf(now, sizeof now, "(not given)");
		const bool floats = float_key(line);
		if (!strcmp(then, now) || (floats && same_values(then, now)))
			continue;
		if (!strcmp(line, THREADS_KEY)) {
			*checkpoint_threads = atoi(then);
			continue;
		}
		const size_t used = strlen(differs);
		char then_text[LINE_BYTES], now_text[LINE_BYTES];
		if (floats) {
			shortest(then, then_text, sizeof then_text);
			shortest(now, now_text, sizeof now_text);
		} else {
			snprintf(then_text, sizeof then_text, "%s", then);
			snprintf(now_text, sizeof now_text, "%s", now);
		}
		if (n_differ++ < 4)
			snprintf(differs + used, sizeof differs - used, "%s%.200s %.200s (now %.200s)", used ? ", " : "", line,
			         then_text, now_text);
	}
	fclose(f);
	if (n_differ == 0)
		return EXIT_OK;
	return cli_fail(EXIT_USAGE, "checkpoint %s was made with other pictures or options: %s%s; resume with those",
	                checkpoint, differs, n_differ > 4 ? " and more" : "");
}
