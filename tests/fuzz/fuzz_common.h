/* What the libFuzzer harnesses share: a per-process scratch directory (made once, removed at
 * exit), writing an input to a file in it, and a failure that libFuzzer reports as a crash with
 * the input that caused it.  Harness code only: the mutable state here is the harness's own. */
#ifndef NST_FUZZ_COMMON_H
#define NST_FUZZ_COMMON_H

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "nst.h"

/* A broken invariant: print why and abort, which libFuzzer turns into a crash report. */
__attribute__((noreturn, format(printf, 1, 2))) static void fuzz_die(const char *fmt, ...) {
	va_list ap;
	va_start(ap, fmt);
	fputs("fuzz invariant broken: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	abort();
}

/* A failure's diag must be one non-empty, NUL-terminated line. */
__attribute__((unused)) static void fuzz_check_diag(const struct nst_diag *diag, enum nst_status status) {
	const char *end = memchr(diag->message, '\0', sizeof diag->message);
	if (!end) fuzz_die("status %d (%s): diag message not NUL-terminated", (int)status, nst_status_string(status));
	if (end == diag->message) fuzz_die("status %d (%s): empty diag message", (int)status, nst_status_string(status));
	if (strchr(diag->message, '\n')) fuzz_die("diag message has a newline: %s", diag->message);
}

static char fuzz_dir_path[256];

__attribute__((unused)) static void fuzz_remove_dir(void) {
	if (!fuzz_dir_path[0]) return;
	DIR *d = opendir(fuzz_dir_path);
	if (d) {
		struct dirent *e;
		while ((e = readdir(d)) != NULL) {
			if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
			char p[512];
			snprintf(p, sizeof p, "%s/%s", fuzz_dir_path, e->d_name);
			unlink(p);
		}
		closedir(d);
	}
	rmdir(fuzz_dir_path);
}

/* The process's scratch directory: on tmpfs (/dev/shm) when there is one, so that the library's
 * fsync and rename cost nothing. */
__attribute__((unused)) static const char *fuzz_dir(void) {
	if (fuzz_dir_path[0]) return fuzz_dir_path;
	const char *bases[] = {"/dev/shm", getenv("TMPDIR"), "/tmp"};
	for (size_t i = 0; i < sizeof bases / sizeof bases[0]; i++) {
		if (!bases[i] || !*bases[i]) continue;
		snprintf(fuzz_dir_path, sizeof fuzz_dir_path, "%s/nst-fuzz-XXXXXX", bases[i]);
		if (mkdtemp(fuzz_dir_path)) {
			atexit(fuzz_remove_dir);
			return fuzz_dir_path;
		}
	}
	fuzz_dir_path[0] = '\0';
	fuzz_die("cannot create a scratch directory: %s", strerror(errno));
}

/* Writes bytes to <scratch>/<name> (replacing it) and returns the path (a static buffer per name
 * slot is not needed: the caller copies or uses it before the next call). */
__attribute__((unused)) static const char *fuzz_write_file(const char *name, const void *bytes, size_t size, char *path, size_t path_size) {
	snprintf(path, path_size, "%s/%s", fuzz_dir(), name);
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0) fuzz_die("cannot create %s: %s", path, strerror(errno));
	const unsigned char *p = bytes;
	size_t done = 0;
	while (done < size) {
		ssize_t n = write(fd, p + done, size - done);
		if (n < 0 && errno == EINTR) continue;
		if (n <= 0) fuzz_die("cannot write %s: %s", path, strerror(errno));
		done += (size_t)n;
	}
	if (close(fd) != 0) fuzz_die("cannot close %s: %s", path, strerror(errno));
	return path;
}

#endif
