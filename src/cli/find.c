/*
 * Where the command line finds its networks: the default weights of the optimization ($NST_WEIGHTS,
 * beside the binary, ../share/nst from it, the install prefix) and the feed-forward models by name
 * ($NST_STYLES, styles/ beside the binary, ../share/nst/styles from it, the install prefix's).
 * python/nst.py searches the same folders in the same order (keep them in step).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"



/* The networks a run uses by default, in order of preference: the distilled VGG19 (offline, deep
 * style layers relu4_1 and relu5_1 at about a tenth of the full VGG19's work), then whichever
 * genuine VGG19 `make weights` got (the full Keras file, or blocks 1-3). */
const char *const cli_weights_files[CLI_WEIGHTS_FILES] = {"vgg19-distilled.nstw", "vgg19.nstw"};

static bool readable(const char *path) { return access(path, R_OK) == 0; }

/* buf = dir/file when that is readable. */
static bool found_in(char *buf, size_t size, const char *dir, const char *file) {
	const int len = snprintf(buf, size, "%s/%s", dir, file);
	return len > 0 && (size_t)len < size && readable(buf);
}

/* Appends dir (a printf format with one %s, the binary's folder or an environment variable's
 * value; skipped when that is NULL or empty or the path too long) to dirs. */
static void add_dir(char (*dirs)[CLI_PATH_BYTES], int *n, const char *format, const char *value) {
	if (!value || !*value || *n >= CLI_MAX_DATA_DIRS)
		return;
	const int len = snprintf(dirs[*n], CLI_PATH_BYTES, format, value);
	if (len > 0 && len < CLI_PATH_BYTES)
		(*n)++;
}

int cli_data_dirs(bool styles, char (*dirs)[CLI_PATH_BYTES]) {
	char exe[CLI_PATH_BYTES];
	/* sizeof exe - 1 bytes back may be a truncated path: that is a failure too. */
	const ssize_t got = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash = got > 0 && (size_t)got < sizeof exe - 1 ? (exe[got] = '\0', strrchr(exe, '/')) : NULL;
	if (slash)
		*slash = '\0';
	const char *bin = slash ? exe : NULL;
	int n = 0;
	if (styles) {
		/* $NST_STYLES first: an explicit override, as $NST_WEIGHTS is for the weights. */
		add_dir(dirs, &n, "%s", getenv("NST_STYLES"));
		add_dir(dirs, &n, "%s/" CLI_STYLES_DIR, bin);
		/* Installed: PREFIX/bin/nst finds PREFIX/share/nst/..., whatever PREFIX was. */
		add_dir(dirs, &n, "%s/../share/nst/" CLI_STYLES_DIR, bin);
		add_dir(dirs, &n, "%s/" CLI_STYLES_DIR, NST_DATADIR);
	} else {
		add_dir(dirs, &n, "%s", bin);
		add_dir(dirs, &n, "%s/../share/nst", bin);
		add_dir(dirs, &n, "%s", NST_DATADIR);
	}
	return n;
}

const char *cli_default_weights(char *buf, size_t size) {
	const char *env = getenv("NST_WEIGHTS");
	if (env && *env)
		return env;
	char dirs[CLI_MAX_DATA_DIRS][CLI_PATH_BYTES];
	const int n = cli_data_dirs(false, dirs);
	for (size_t i = 0; i < CLI_WEIGHTS_FILES; i++)
		for (int d = 0; d < n; d++)
			if (found_in(buf, size, dirs[d], cli_weights_files[i]))
				return buf;
	return NULL;
}

/* dir/NAME.nstw for the first of dirs [n] holding it, or NULL; `looked` (if not NULL) gets the
 * folders searched, appended after a comma. */
static const char *find_in(char (*dirs)[CLI_PATH_BYTES], int n, const char *name, char *buf, size_t size, char *looked,
                           size_t looked_size) {
	for (int i = 0; i < n; i++) {
		const int len = snprintf(buf, size, "%s/%s" CLI_MODEL_EXTENSION, dirs[i], name);
		if (len > 0 && (size_t)len < size && readable(buf))
			return buf;
		if (!looked)
			continue;
		const size_t used = strlen(looked);
		if (snprintf(looked + used, looked_size - used, "%s%s", used ? ", " : "", dirs[i]) < 0)
			break;
	}
	return NULL;
}

/* The path of a named model, or NULL; `looked` lists where it looked. */
const char *cli_find_model(const char *name, char *buf, size_t size, char *looked, size_t looked_size) {
	char dirs[CLI_MAX_DATA_DIRS][CLI_PATH_BYTES];
	const int n = cli_data_dirs(true, dirs);
	looked[0] = '\0';
	return find_in(dirs, n, name, buf, size, looked, looked_size);
}

const char *cli_find_network(const char *name, char *buf, size_t size) {
	char dirs[CLI_MAX_DATA_DIRS][CLI_PATH_BYTES];
	int n = cli_data_dirs(true, dirs);
	const char *path = find_in(dirs, n, name, buf, size, NULL, 0);
	if (!path) {
		n = cli_data_dirs(false, dirs);
		path = find_in(dirs, n, name, buf, size, NULL, 0);
	}
	return path;
}
