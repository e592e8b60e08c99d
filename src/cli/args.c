/*
 * The commands' argument parsing helpers (src/cli/cli.h): strict numbers, lists and sizes, other
 * tools' spellings refused with the nst option, the thread count --threads resolves to.
 */
#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define KIB 1024.0

bool cli_parse_int(const char *s, long lo, long hi, int *out) {
	char *end;
	errno = 0;
	const long v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < lo || v > hi)
		return false;
	*out = (int)v;
	return true;
}

bool cli_parse_float(const char *s, double lo, double hi, double *out) {
	char *end;
	errno = 0;
	const double v = strtod(s, &end);
	if (errno || end == s || *end || !isfinite(v) || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

int cli_parse_int_list(const char *arg, int *out, int max, long lo, long hi) {
	char buf[CLI_PATH_BYTES];
	snprintf(buf, sizeof buf, "%s", arg);
	int n = 0;
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		if (n == max || !cli_parse_int(tok, lo, hi, &out[n]))
			return -1;
		n++;
	}
	return n > 0 ? n : -1;
}

int cli_parse_float_list(const char *arg, float *out, int max, double lo, double hi) {
	char buf[CLI_PATH_BYTES];
	snprintf(buf, sizeof buf, "%s", arg);
	int n = 0;
	for (char *tok = strtok(buf, ","); tok; tok = strtok(NULL, ",")) {
		double v;
		if (n == max || !cli_parse_float(tok, lo, hi, &v))
			return -1;
		out[n++] = (float)v;
	}
	return n > 0 ? n : -1;
}

int cli_split_list(char *list, char **out, int max) {
	int n = 0;
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ","), n++)
		if (n < max)
			out[n] = tok;
	return n;
}

int cli_stdin_once(const char *content, char *const *styles, int n_styles, const char *init) {
	const char *first = NULL;
	for (int i = -1; i <= n_styles; i++) {
		const char *path = i < 0 ? content : i < n_styles ? styles[i] : init;
		const char *what = i < 0 ? "-c" : i < n_styles ? "-s" : "--init";
		if (!path || strcmp(path, "-"))
			continue;
		if (first && !strcmp(first, what))
			return cli_fail(EXIT_USAGE, "%s names - (standard input) twice, which can be read once", what);
		if (first)
			return cli_fail(EXIT_USAGE, "%s - and %s - both read standard input, which can be read once: give one of "
			                "them a file", first, what);
		first = what;
	}
	return EXIT_OK;
}

bool cli_parse_seed(const char *s, uint64_t *out) {
	if (!isdigit((unsigned char)s[0])) /* strtoull would take " -1" as 2^64 - 1 */
		return false;
	char *end;
	errno = 0;
	const unsigned long long v = strtoull(s, &end, 10);
	if (errno || *end)
		return false;
	*out = (uint64_t)v;
	return true;
}

bool cli_parse_bytes(const char *s, size_t *out) {
	char *end;
	errno = 0;
	const double v = strtod(s, &end);
	if (errno || end == s || !isfinite(v) || v <= 0)
		return false;
	double mult = 1;
	if (*end) {
		switch (*end) {
		case 'k': case 'K': mult = KIB; break;
		case 'm': case 'M': mult = KIB * KIB; break;
		case 'g': case 'G': mult = KIB * KIB * KIB; break;
		default: return false;
		}
		end++;
		if (*end == 'i')
			end++;
		if (*end == 'B' || *end == 'b')
			end++;
		if (*end)
			return false;
	}
	const double bytes = v * mult;
	if (bytes < KIB * KIB || bytes >= (double)SIZE_MAX)
		return false;
	*out = (size_t)bytes;
	return true;
}

/* ---------------------------------------------------------------------------------------------
 * Spellings from other tools: neural-style (Lua) and fast-neural-style take single-dash long
 * options, which getopt would read as short ones: -content_image = -c ontent_image.
 * ------------------------------------------------------------------------------------------- */

static const struct {
	const char *name; /* neural-style's, with underscores */
	const char *nst;  /* what to use instead */
} FOREIGN_OPTIONS[] = {
	{"content_image", "use -c FILE"}, {"style_image", "use -s FILE[,FILE]"}, {"output_image", "use -o FILE"},
	{"image_size", "use --size N"}, {"num_iterations", "use -n N"}, {"save_iter", "use --save-every N"},
	{"print_iter", "use --print-every N"}, {"init_image", "use --init FILE"}, {"init", "use --init"},
	{"style_blend_weights", "use --style-blend"}, {"content_weight", "use --content-weight"},
	{"style_weight", "use --style-weight"}, {"tv_weight", "use --tv-weight"}, {"optimizer", "use --optimizer"},
	{"learning_rate", "use --lr"}, {"lbfgs_num_correction", "use --history"}, {"style_scale", "use --style-scale"},
	{"original_colors", "use --original-colors"}, {"pooling", "use --pooling"}, {"seed", "use --seed"},
	{"content_layers", "use --content-layers"}, {"style_layers", "use --style-layers"},
	{"model_file", "use --weights FILE (or --model for a feed-forward network)"}, {"proto_file", "use --weights FILE"},
	{"backend", "use --backend"}, {"gpu", "nst runs on the CPU: use --threads N"}, {"model", "use --model"},
	{"input_image", "use -c FILE"}, {"input_dir", "use -c FOLDER"}, {"output_dir", "use -o FOLDER"},
	{"normalize_gradients", "nst has no such option"}, {"cudnn_autotune", "nst has no such option"},
	{"multigpu_strategy", "nst has no such option"}, {"median_filter", "nst has no such option"},
	{"timing", "use --bench N"}, {"cudnn_benchmark", "nst has no such option"},
};
#define N_FOREIGN_OPTIONS (sizeof FOREIGN_OPTIONS / sizeof FOREIGN_OPTIONS[0])

/* What to use instead of a foreign option name (dashes and underscores alike), or NULL. */
static const char *foreign_hint(const char *name, size_t len) {
	for (size_t i = 0; i < N_FOREIGN_OPTIONS; i++) {
		const char *f = FOREIGN_OPTIONS[i].name;
		if (strlen(f) != len)
			continue;
		size_t k = 0;
		while (k < len && (name[k] == f[k] || (name[k] == '-' && f[k] == '_')))
			k++;
		if (k == len)
			return FOREIGN_OPTIONS[i].nst;
	}
	return NULL;
}

static const struct option *find_long(const struct option *longopts, const char *name, size_t len) {
	const struct option *prefix = NULL;
	for (const struct option *o = longopts; o->name; o++) {
		if (strncmp(o->name, name, len) != 0)
			continue;
		if (strlen(o->name) == len)
			return o;
		prefix = prefix ? prefix : o; /* getopt_long takes an unambiguous abbreviation */
	}
	return prefix;
}

/* A short option letter: 1 a flag, 2 one that takes a value, 0 not one. */
static int short_kind(const char *shortopts, char ch) {
	const char *p = ch != ':' ? strchr(shortopts, ch) : NULL;
	return !p ? 0 : p[1] == ':' ? 2 : 1;
}

int cli_check_spelling(int argc, char **argv, const char *shortopts, const struct option *longopts, const char *help) {
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (!strcmp(a, "--"))
			break;
		if (a[0] != '-' || !a[1])
			continue;
		if (a[1] == '-') { /* a long option: skip its value */
			const char *eq = strchr(a, '=');
			const struct option *o = find_long(longopts, a + 2, eq ? (size_t)(eq - a - 2) : strlen(a + 2));
			if (o && o->has_arg == required_argument && !eq)
				i++;
			continue;
		}
		const char *w = a + 1;
		const char *hint = foreign_hint(w, strlen(w));
		if (hint)
			return cli_fail(EXIT_USAGE, "%s is neural-style's spelling: %s (see %s)", a, hint, help);
		const struct option *o = strlen(w) > 1 ? find_long(longopts, w, strlen(w)) : NULL;
		if (o && !strcmp(o->name, w))
			return cli_fail(EXIT_USAGE, "%s: long options take two dashes: --%s (see %s)", a, w, help);
		/* A word (letters and underscores, not only flags) is a long option with one dash. */
		bool word = strlen(w) > 1, flags = true;
		for (const char *p = w; *p; p++) {
			word = word && (islower((unsigned char)*p) || *p == '_');
			flags = flags && short_kind(shortopts, *p) == 1;
		}
		if (word && !flags)
			return cli_fail(EXIT_USAGE, "%s is not an option: long options take two dashes (--name), a short "
			                "option's value follows it (-c FILE) (see %s)", a, help);
		for (const char *p = w; *p; p++) { /* a cluster such as -qn: the value may be the next argument */
			const int kind = short_kind(shortopts, *p);
			if (kind == 2 && !p[1])
				i++;
			if (kind != 1)
				break;
		}
	}
	return EXIT_OK;
}

int cli_unknown_option(const char *arg, const char *help) {
	const char *name = arg;
	while (*name == '-')
		name++;
	const char *eq = strchr(name, '=');
	const char *hint = foreign_hint(name, eq ? (size_t)(eq - name) : strlen(name));
	if (hint)
		return cli_fail(EXIT_USAGE, "unknown option '%s': %s (see %s)", arg, hint, help);
	return cli_fail(EXIT_USAGE, "unknown option '%s' (see %s)", arg, help);
}

int cli_threads(int requested, bool quiet) {
	const int usable = nst_cpu_count();
	if (requested <= 0)
		return usable;
	if (requested > usable) {
		if (!quiet)
			fprintf(stderr, "nst: --threads %d is more than the %d CPU%s this process may use: using %d\n", requested,
			        usable, usable == 1 ? "" : "s", usable);
		return usable;
	}
	return requested;
}
