/*
 * Where the command line finds its networks: the default weights of the optimization ($NST_WEIGHTS,
 * beside the binary, ../share/nst from it, the install prefix) and the feed-forward models by name.
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

const char *cli_default_weights(char *buf, size_t size) {
	const char *env = getenv("NST_WEIGHTS");
	if (env && *env)
		return env;
	char exe[CLI_PATH_BYTES], installed[CLI_PATH_BYTES + 16];
	const ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash = n > 0 ? (exe[n] = '\0', strrchr(exe, '/')) : NULL;
	if (slash) {
		*slash = '\0';
		/* Installed: PREFIX/bin/nst finds PREFIX/share/nst/..., whatever PREFIX was. */
		snprintf(installed, sizeof installed, "%s/../share/nst", exe);
	}
	for (size_t i = 0; i < CLI_WEIGHTS_FILES; i++) {
		const char *file = cli_weights_files[i];
		if (slash && (found_in(buf, size, exe, file) || found_in(buf, size, installed, file)))
			return buf;
		if (found_in(buf, size, NST_DATADIR, file))
			return buf;
	}
	return NULL;
}

/* The path of a named model, or NULL; `looked` lists where it looked. */
const char *cli_find_model(const char *name, char *buf, size_t size, char *looked, size_t looked_size) {
	enum { MAX_DIRS = 4 };
	char dirs[MAX_DIRS][CLI_PATH_BYTES];
	int n = 0, len;
	char exe[CLI_PATH_BYTES];
	const ssize_t got = readlink("/proc/self/exe", exe, sizeof exe - 1);
	char *slash = NULL;
	if (got > 0) {
		exe[got] = '\0';
		slash = strrchr(exe, '/');
		if (slash)
			*slash = '\0';
	}
	if (slash && (len = snprintf(dirs[n], CLI_PATH_BYTES, "%s/" CLI_STYLES_DIR, exe)) > 0 && len < CLI_PATH_BYTES)
		n++;
	const char *env = getenv("NST_STYLES");
	if (env && *env && (len = snprintf(dirs[n], CLI_PATH_BYTES, "%s", env)) > 0 && len < CLI_PATH_BYTES)
		n++;
	if (slash && (len = snprintf(dirs[n], CLI_PATH_BYTES, "%s/../share/nst/" CLI_STYLES_DIR, exe)) > 0 && len < CLI_PATH_BYTES)
		n++;
	if ((len = snprintf(dirs[n], CLI_PATH_BYTES, "%s/" CLI_STYLES_DIR, NST_DATADIR)) > 0 && len < CLI_PATH_BYTES)
		n++;
	looked[0] = '\0';
	for (int i = 0; i < n; i++) {
		len = snprintf(buf, size, "%s/%s" CLI_MODEL_EXTENSION, dirs[i], name);
		if (len > 0 && (size_t)len < size && readable(buf))
			return buf;
		const size_t used = strlen(looked);
		if (snprintf(looked + used, looked_size - used, "%s%s", i ? ", " : "", dirs[i]) < 0)
			break;
	}
	return NULL;
}
