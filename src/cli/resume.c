/*
 * What a checkpoint was made with (src/cli/cli.h): beside CHECKPOINT, a small text file
 * CHECKPOINT.options holds the options that decide the result, one per line ("--style-weight
 * 100").  --resume compares them one by one, so that a refusal names the option that differs;
 * the library's fingerprint in the checkpoint stays the final word.  A checkpoint without the
 * file (copied alone, or older) is checked by the fingerprint only.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

#define OPTIONS_SUFFIX ".options"
#define COMMENT '#'                  /* a description's comment lines: not compared */
#define FOLDER_KEY "# folder "       /* the working folder of the run, quoted */
#define COMMAND_KEY "# command"      /* then " word" per argument, quoted */
#define NOT_RECORDED "(not recorded: " /* a COMMAND_KEY line saying why there is none */
#define RECORD_BYTES (8 * CLI_PATH_BYTES) /* the most the folder and command lines take */
#define RESUME_OPTION "--resume"
#define FLAG_LETTERS "qh" /* the optimization's short options that take no value (optimize_args.c) */
#define RESUME_PREFIX_MIN (sizeof "--r" - 1) /* getopt takes --r as --resume: no other option starts so */
#define PLAIN_PUNCTUATION "_@%+=:,./-" /* with letters and digits: a word that needs no quotes */
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
	char differs[2 * LINE_BYTES] = "", now[LINE_BYTES];
	char *line = NULL; /* whole lines, however long (the recorded command) */
	size_t cap = 0;
	int n_differ = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char *space = strchr(line, ' ');
		if (!space || line[0] == COMMENT)
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
			snprintf(then_text, sizeof then_text, "%.*s", (int)sizeof then_text - 1, then);
			snprintf(now_text, sizeof now_text, "%s", now);
		}
		if (n_differ++ < 4)
			snprintf(differs + used, sizeof differs - used, "%s%.200s %.200s (now %.200s)", used ? ", " : "", line,
			         then_text, now_text);
	}
	free(line);
	fclose(f);
	if (n_differ == 0)
		return EXIT_OK;
	return cli_fail(EXIT_USAGE, "checkpoint %s was made with other pictures or options: %s%s; resume with those",
	                checkpoint, differs, n_differ > 4 ? " and more" : "");
}

/* ---------------------------------------------------------------------------------------------
 * The command, recorded and recalled
 * ------------------------------------------------------------------------------------------- */

/* Appends text to buf at *used, within limit; false if it does not fit. */
static bool put(char *buf, size_t limit, size_t *used, const char *text, size_t len) {
	if (*used + len >= limit)
		return false;
	memcpy(buf + *used, text, len);
	*used += len;
	buf[*used] = '\0';
	return true;
}

/* A word as a POSIX shell reads it back: bare when plain, else in single quotes ('\'' for '). */
static bool put_word(char *buf, size_t limit, size_t *used, const char *word) {
	bool plain = *word != '\0';
	for (const char *p = word; *p && plain; p++)
		plain = isalnum((unsigned char)*p) || strchr(PLAIN_PUNCTUATION, *p);
	if (plain)
		return put(buf, limit, used, word, strlen(word));
	bool ok = put(buf, limit, used, "'", 1);
	for (const char *p = word; *p && ok; p++)
		ok = *p == '\'' ? put(buf, limit, used, "'\\''", 4) : put(buf, limit, used, p, 1);
	return ok && put(buf, limit, used, "'", 1);
}

/* Whether arg is --resume as getopt takes it (an unambiguous prefix, --r at the least): 1 when
 * its value is the next argument, 2 when it follows '='. */
static int resume_option(const char *arg) {
	const size_t len = strcspn(arg, "=");
	if (len < RESUME_PREFIX_MIN || len > strlen(RESUME_OPTION) || strncmp(arg, RESUME_OPTION, len))
		return 0;
	return arg[len] == '=' ? 2 : 1;
}

const char *cli_quote(const char *word, char *buf, size_t size) {
	size_t used = 0;
	buf[0] = '\0';
	return put_word(buf, size, &used, word) ? buf : word;
}

void cli_record_command(int argc, char **argv, char *buf, size_t size, size_t *used) {
	const size_t start = *used, limit = start + RECORD_BYTES < size ? start + RECORD_BYTES : size;
	char folder[CLI_PATH_BYTES];
	const char *why = NULL;
	if (!getcwd(folder, sizeof folder) || strchr(folder, '\n'))
		why = "the working folder is unknown";
	for (int i = 1; i < argc && !why; i++)
		if (strchr(argv[i], '\n'))
			why = "an argument holds a newline";
	bool ok = !why && put(buf, limit, used, FOLDER_KEY, strlen(FOLDER_KEY)) && put_word(buf, limit, used, folder) &&
	          put(buf, limit, used, "\n" COMMAND_KEY, strlen("\n" COMMAND_KEY));
	for (int i = 1; ok && i < argc; i++) {
		const int form = resume_option(argv[i]); /* --resume and its value are left out */
		if (form)
			i += form == 1;
		else
			ok = put(buf, limit, used, " ", 1) && put_word(buf, limit, used, argv[i]);
	}
	ok = ok && put(buf, limit, used, "\n", 1);
	if (!ok) { /* said instead, so that --resume alone can say why it cannot */
		*used = start;
		char marker[128];
		const int n = snprintf(marker, sizeof marker, COMMAND_KEY " " NOT_RECORDED "%s)\n",
		                       why ? why : "the command line is too long");
		if (!put(buf, size, used, marker, (size_t)n))
			buf[start] = '\0';
	}
}

void cli_print_command(FILE *f, int argc, char **argv) {
	char word[4 * CLI_PATH_BYTES];
	fprintf(f, "nst");
	for (int i = 1; i < argc; i++)
		fprintf(f, " %s", cli_quote(argv[i], word, sizeof word));
}

/* The words of a recorded line (put_word's quoting) into out (as long as the line), NUL after
 * each; their starts into words (at most max); the count. */
static int split_words(const char *line, char *out, char **words, int max) {
	int n = 0;
	for (const char *p = line; *p;) {
		while (*p == ' ')
			p++;
		if (!*p || n == max)
			break;
		words[n++] = out;
		while (*p && *p != ' ') {
			if (*p == '\'') {
				for (p++; *p && *p != '\''; p++)
					*out++ = *p;
				if (*p)
					p++;
			} else if (*p == '\\' && p[1]) {
				*out++ = p[1];
				p += 2;
			} else {
				*out++ = *p++;
			}
		}
		*out++ = '\0';
	}
	return n;
}

/* -c FILE, -cFILE, a cluster such as -qc FILE, --content FILE or --content=FILE (not
 * --content-weight). */
static bool content_option(const char *arg) {
	if (arg[0] == '-' && arg[1] != '-')
		for (const char *p = arg + 1; *p; p++) {
			if (*p == 'c')
				return true;
			if (!strchr(FLAG_LETTERS, *p)) /* a letter that takes a value: the rest is the value */
				return false;
		}
	return !strcmp(arg, "--content") || !strncmp(arg, "--content=", strlen("--content="));
}

/* Whether arg is one of names: a short one as it is, a long one as getopt takes it too (a prefix
 * of at least "--x", which getopt refuses later if another option shares it), with "=value" when
 * with_value. */
static bool listed(const char *arg, const char *const *names, size_t n, bool with_value) {
	const size_t len = strcspn(arg, "="); /* the option's name as given */
	if (arg[len] == '=' && !with_value)
		return false;
	for (size_t k = 0; k < n; k++) {
		const bool is_long = !strncmp(names[k], "--", 2);
		if (is_long ? len >= strlen("--x") && len <= strlen(names[k]) && !strncmp(arg, names[k], len)
		            : len == strlen(names[k]) && !strncmp(arg, names[k], len))
			return true;
	}
	return false;
}

void cli_recall_free(struct cli_recalled *r) {
	free(r->argv);
	free(r->words);
	memset(r, 0, sizeof *r);
}

/* The recorded folder and command lines of a description file (malloc'ed, without the key and
 * the newline; NULL when absent). */
static void read_record(FILE *f, char **folder, char **command) {
	char *line = NULL;
	size_t cap = 0;
	while (getline(&line, &cap, f) > 0) {
		line[strcspn(line, "\n")] = '\0';
		char **into = !strncmp(line, FOLDER_KEY, strlen(FOLDER_KEY))          ? folder
		              : !strncmp(line, COMMAND_KEY " ", strlen(COMMAND_KEY " ")) ? command
		                                                                        : NULL;
		if (into && !*into)
			*into = strdup(line + (into == folder ? strlen(FOLDER_KEY) : strlen(COMMAND_KEY " ")));
	}
	free(line);
}

/* Options that may come with `nst --resume CHECKPOINT` alone: how the run goes, not what it makes
 * or where (a file named now would be looked for in the recorded folder). */
static const char *const ALONE_WITH_VALUE[] = {"--threads", "--print-every", "--checkpoint-every"};
static const char *const ALONE_FLAGS[] = {"-q", "--quiet"};
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

int cli_recall_command(int argc, char **argv, struct cli_recalled *r) {
	memset(r, 0, sizeof *r);
	int at = 0, given = 0; /* --resume's value: argv[at] (after '=' when the option has one) */
	const char *other = NULL;
	bool content = false;
	for (int i = 1; i < argc; i++) {
		const int form = resume_option(argv[i]);
		if (form) {
			given++;
			at = form == 2 ? i : i + 1 < argc ? ++i : 0;
		} else if (content_option(argv[i])) {
			content = true;
		} else if (listed(argv[i], ALONE_WITH_VALUE, COUNT(ALONE_WITH_VALUE), true)) {
			i += strchr(argv[i], '=') ? 0 : 1;
		} else if (!listed(argv[i], ALONE_FLAGS, COUNT(ALONE_FLAGS), false) && !other) {
			other = argv[i];
		}
	}
	if (!at || content)
		return EXIT_OK; /* not `nst --resume CHECKPOINT` alone: the command line is parsed as it is */
	const char *checkpoint = resume_option(argv[at]) == 2 ? strchr(argv[at], '=') + 1 : argv[at];
	if (given > 1)
		return cli_fail(EXIT_USAGE, "--resume is given %d times: name one checkpoint", given);
	if (other)
		return cli_fail(EXIT_USAGE, "--resume %s without -c runs the command recorded with the checkpoint: only "
		                "--threads, --print-every, --checkpoint-every and -q may come with it (not %s); to change "
		                "anything else give the whole command with --resume", checkpoint, other);
	char path[CLI_PATH_BYTES], absolute[CLI_PATH_BYTES];
	char *folder_line = NULL, *command_line = NULL;
	if (!realpath(checkpoint, absolute)) /* the checkpoint itself first: a mistyped name says so */
		return cli_fail(EXIT_FAILURE_RUN, "--resume %s: %s", checkpoint, strerror(errno));
	FILE *f = cli_run_options_path(checkpoint, path, sizeof path) ? fopen(path, "r") : NULL;
	if (f) {
		read_record(f, &folder_line, &command_line);
		fclose(f);
	}
	int rc = EXIT_OK;
	if (command_line && !strncmp(command_line, NOT_RECORDED, strlen(NOT_RECORDED)))
		rc = cli_fail(EXIT_USAGE, "--resume %s without -c: the run's command was not recorded (%s; give the whole "
		              "command with --resume %s", checkpoint, command_line + strlen(NOT_RECORDED), checkpoint);
	else if (!f)
		rc = cli_fail(EXIT_USAGE, "--resume %s without -c: %s, which records the run's command, is not beside it "
		              "(%s); give the whole command with --resume %s", checkpoint, path, strerror(errno), checkpoint);
	else if (!folder_line || !command_line)
		rc = cli_fail(EXIT_USAGE, "--resume %s without -c: %s does not record the run's command (an older nst made "
		              "it); give the whole command with --resume %s", checkpoint, path, checkpoint);
	if (rc != EXIT_OK) {
		free(folder_line);
		free(command_line);
		return rc;
	}
	const size_t folder_len = strlen(folder_line), command_len = strlen(command_line), absolute_len = strlen(absolute);
	const int max_words = (int)(command_len / 2 + 1); /* words are separated by spaces */
	/* words: the folder, the recorded arguments, "--resume" and the checkpoint's absolute path */
	r->words = malloc(folder_len + 1 + command_len + 1 + sizeof RESUME_OPTION + absolute_len + 1);
	r->argv = malloc(((size_t)max_words + (size_t)argc + 3) * sizeof *r->argv);
	char *folder[1];
	if (!r->words || !r->argv)
		rc = cli_fail(EXIT_FAILURE_RUN, "--resume %s: %s", checkpoint, strerror(ENOMEM));
	else if (split_words(folder_line, r->words, folder, 1) != 1)
		rc = cli_fail(EXIT_USAGE, "--resume %s: %s records no folder", checkpoint, path);
	else if (chdir(folder[0]) != 0)
		rc = cli_fail(EXIT_FAILURE_RUN, "--resume %s: the run's folder %s: %s", checkpoint, folder[0], strerror(errno));
	if (rc == EXIT_OK) {
		char *words = r->words + folder_len + 1;
		r->argv[r->argc++] = argv[0];
		r->argc += split_words(command_line, words, r->argv + r->argc, max_words);
		r->recorded_argc = r->argc;
		for (int i = 1; i < argc; i++) /* what is given now comes after: its options win */
			if (i != at && !(i + 1 == at && resume_option(argv[i]) == 1))
				r->argv[r->argc++] = argv[i];
		char *option = words + command_len + 1, *value = option + sizeof RESUME_OPTION;
		memcpy(option, RESUME_OPTION, sizeof RESUME_OPTION);
		memcpy(value, absolute, absolute_len + 1);
		r->argv[r->argc++] = option;
		r->argv[r->argc++] = value;
		r->argv[r->argc] = NULL;
		snprintf(r->folder, sizeof r->folder, "%s", folder[0]);
	} else {
		cli_recall_free(r);
	}
	free(folder_line);
	free(command_line);
	return rc;
}
