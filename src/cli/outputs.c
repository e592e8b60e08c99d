/*
 * What a run writes, as files (src/cli/cli.h): every output is checked before any work (a known
 * extension, a writable folder, a name the file system takes), no two outputs and no input and
 * output are one file (through symbolic and hard links too), and each is written whole or not at
 * all: a temporary file beside it, renamed.  A symbolic link as an output is followed: its target
 * is written (atomically, beside the target) and the link stays.  A FIFO or a character device is
 * written in place, as a stream.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* The extensions nst_image_save writes. */
static const char *const SAVED_EXTENSIONS[] = {".png", ".jpg", ".jpeg", ".bmp", ".tga"};
#define N_SAVED_EXTENSIONS (sizeof SAVED_EXTENSIONS / sizeof SAVED_EXTENSIONS[0])
#define MAX_LINKS 40            /* symbolic links followed, as the kernel does (ELOOP) */
#define TMP_BASE_BYTES 200      /* a temporary's name keeps this much of the target's (NAME_MAX) */
#define COPY_CHUNK 65536
#define STREAM_WAIT_NS 50000000L /* between two looks for a FIFO's reader */

static const char *base_name(const char *path) {
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}

/* The folder part of path, with no trailing slash ("." for none, "/" for the root). */
static void folder_of(const char *path, char *buf, size_t size) {
	const char *slash = strrchr(path, '/');
	if (!slash)
		snprintf(buf, size, ".");
	else if (slash == path)
		snprintf(buf, size, "/");
	else
		snprintf(buf, size, "%.*s", (int)(slash - path), path);
}

/* The extension of a name (".png"), or NULL. */
static const char *extension(const char *path) {
	const char *base = base_name(path);
	const char *dot = strrchr(base, '.');
	return dot && dot != base ? dot : NULL;
}

static bool saved_extension(const char *ext) {
	for (size_t i = 0; i < N_SAVED_EXTENSIONS; i++)
		if (!strcasecmp(ext, SAVED_EXTENSIONS[i]))
			return true;
	return false;
}

bool cli_names_picture(const char *path) {
	const char *ext = extension(path);
	return ext && saved_extension(ext);
}

/* Follows path's symbolic links (the last component only) to the file they name, which may not
 * exist yet; false with errno (ELOOP, ENAMETOOLONG) when they cannot be followed. */
static bool follow_links(const char *path, char *out, size_t size) {
	if ((size_t)snprintf(out, size, "%s", path) >= size) {
		errno = ENAMETOOLONG;
		return false;
	}
	for (int i = 0; i < MAX_LINKS; i++) {
		struct stat st;
		if (lstat(out, &st) != 0 || !S_ISLNK(st.st_mode))
			return true;
		char target[CLI_PATH_BYTES];
		const ssize_t n = readlink(out, target, sizeof target - 1);
		if (n < 0)
			return false;
		target[n] = '\0';
		char folder[CLI_PATH_BYTES];
		folder_of(out, folder, sizeof folder);
		const int len = target[0] == '/' ? snprintf(out, size, "%s", target)
		                                 : snprintf(out, size, "%s/%s", folder, target);
		if (len < 0 || (size_t)len >= size) {
			errno = ENAMETOOLONG;
			return false;
		}
	}
	errno = ELOOP;
	return false;
}

/* f->real: the real path of the file, or of its folder and its name when it does not exist. */
static void real_path(struct cli_file *f, const char *path) {
	char buf[CLI_PATH_BYTES], folder[CLI_PATH_BYTES];
	f->real[0] = '\0';
	if (realpath(path, buf)) {
		snprintf(f->real, sizeof f->real, "%s", buf);
		return;
	}
	folder_of(path, folder, sizeof folder);
	if (realpath(folder, buf) &&
	    (size_t)snprintf(f->real, sizeof f->real, "%s/%s", strcmp(buf, "/") ? buf : "", base_name(path)) >= sizeof f->real)
		f->real[0] = '\0';
}

void cli_input_identify(struct cli_file *f, const char *what, const char *name) {
	memset(f, 0, sizeof *f);
	f->what = what;
	f->name = name;
	f->stdio = !strcmp(name, "-");
	struct stat st;
	if (f->stdio || stat(name, &st) != 0)
		return;
	f->stream = S_ISFIFO(st.st_mode) || S_ISCHR(st.st_mode);
	f->id = (struct cli_id){true, S_ISCHR(st.st_mode), st.st_dev, st.st_ino};
	snprintf(f->path, sizeof f->path, "%s", name);
	real_path(f, name);
}

/* The template of a temporary beside path (in its folder): "<folder>/.<name>.tmp-XXXXXX". */
static bool temporary_name(const char *path, const char *folder, char *tmp, size_t size) {
	return (size_t)snprintf(tmp, size, "%s/.%.*s.tmp-XXXXXX", folder, TMP_BASE_BYTES, base_name(path)) < size;
}

/* Whether a file can be made in path's folder, tried by making (and removing) the temporary the
 * write makes there: access(2) says yes to root in /proc or /sys, where creating fails.  0 or
 * the errno. */
static int probe_folder(const char *path, const char *folder) {
	char tmp[CLI_PATH_BYTES];
	if (!temporary_name(path, folder, tmp, sizeof tmp))
		return ENAMETOOLONG;
	const int fd = mkstemp(tmp);
	if (fd < 0)
		return errno;
	close(fd);
	unlink(tmp);
	return 0;
}

int cli_output_check(struct cli_file *f, const char *what, const char *name, enum cli_output_type type,
                     size_t reserve) {
	memset(f, 0, sizeof *f);
	f->what = what;
	f->name = name;
	if (!*name)
		return cli_fail(EXIT_USAGE, "%s: an empty file name", what);
	if (strlen(name) >= CLI_PATH_BYTES)
		return cli_fail(EXIT_USAGE, "%s: the path is too long (%zu characters; at most %d)", what, strlen(name),
		                CLI_PATH_BYTES - 1);
	struct stat st;
	if (stat(name, &st) == 0) { /* through its links */
		if (S_ISDIR(st.st_mode))
			return cli_fail(EXIT_USAGE, "%s %s is a folder: give a file name", what, name);
		if (!S_ISREG(st.st_mode) && !S_ISFIFO(st.st_mode) && !S_ISCHR(st.st_mode))
			return cli_fail(EXIT_USAGE, "%s %s is not a file, a FIFO or a device", what, name);
		f->stream = !S_ISREG(st.st_mode);
		f->id = (struct cli_id){true, S_ISCHR(st.st_mode), st.st_dev, st.st_ino};
	} else if (errno == ENAMETOOLONG) {
		return cli_fail(EXIT_USAGE, "%s %s: a name in the path is too long (at most %d characters)", what, name,
		                NAME_MAX);
	}
	if (f->stream && type == CLI_OUTPUT_CHECKPOINT)
		return cli_fail(EXIT_USAGE, "%s %s is a FIFO or a device: a checkpoint needs a regular file", what, name);
	const char *ext = extension(name);
	if (type == CLI_OUTPUT_PICTURE && !(f->stream && !ext)) { /* a stream with no extension gets PNG */
		if (!ext)
			return cli_fail(EXIT_USAGE, "%s %s: no file extension to tell the picture format (use .png, .jpg, .bmp "
			                "or .tga)", what, name);
		if (!saved_extension(ext))
			return cli_fail(EXIT_USAGE, "%s %s: unknown picture format '%s' (use .png, .jpg, .bmp or .tga)", what,
			                name, ext);
	}
	if (f->stream) { /* written in place */
		snprintf(f->path, sizeof f->path, "%s", name);
		real_path(f, name);
		if (access(name, W_OK) != 0)
			return cli_fail(EXIT_FAILURE_RUN, "%s: cannot write %s: %s", what, name, strerror(errno));
		return EXIT_OK;
	}
	if (!follow_links(name, f->path, sizeof f->path))
		return cli_fail(errno == ENAMETOOLONG ? EXIT_USAGE : EXIT_FAILURE_RUN, "%s %s: %s", what, name,
		                strerror(errno));
	const size_t base = strlen(base_name(f->path));
	if (base == 0)
		return cli_fail(EXIT_USAGE, "%s %s: no file name after the folder", what, name);
	if (base + reserve > NAME_MAX)
		return cli_fail(EXIT_USAGE, "%s %s: the file name is too long (%zu characters; at most %zu here)", what,
		                name, base, (size_t)NAME_MAX - reserve);
	char folder[CLI_PATH_BYTES];
	folder_of(f->path, folder, sizeof folder);
	if (stat(folder, &st) != 0) {
		if (errno == ENAMETOOLONG)
			return cli_fail(EXIT_USAGE, "%s %s: a name in the path is too long (at most %d characters)", what, name,
			                NAME_MAX);
		return cli_fail(EXIT_FAILURE_RUN, "%s %s: the folder %s %s", what, name, folder,
		                errno == ENOENT ? "does not exist" : strerror(errno));
	}
	if (!S_ISDIR(st.st_mode))
		return cli_fail(EXIT_FAILURE_RUN, "%s %s: %s is not a folder", what, name, folder);
	const int e = probe_folder(f->path, folder);
	if (e) /* ENOENT in a folder that exists: /proc, /sys */
		return cli_fail(EXIT_FAILURE_RUN, "%s %s: cannot write in the folder %s: %s", what, name, folder,
		                e == ENOENT ? "no file can be made there" : strerror(e));
	real_path(f, f->path);
	return EXIT_OK;
}

bool cli_same_id(const struct cli_id *a, const struct cli_id *b) {
	return a->exists && b->exists && a->dev == b->dev && a->ino == b->ino && !a->device;
}

bool cli_same_file(const struct cli_file *a, const struct cli_file *b) {
	if (a->stdio || b->stdio)
		return false;
	if (a->id.exists || b->id.exists)
		return cli_same_id(&a->id, &b->id);
	return a->real[0] && !strcmp(a->real, b->real); /* two new files */
}

int cli_refuse_same(const struct cli_file *const *outputs, int n_outputs, const struct cli_file *const *inputs,
                    int n_inputs) {
	for (int i = 0; i < n_outputs; i++) {
		for (int j = 0; j < n_inputs; j++)
			if (cli_same_file(outputs[i], inputs[j]))
				return cli_fail(EXIT_USAGE, "%s %s is the same file as %s %s: an input is never overwritten",
				                outputs[i]->what, outputs[i]->name, inputs[j]->what, inputs[j]->name);
		for (int j = 0; j < i; j++)
			if (cli_same_file(outputs[i], outputs[j]))
				return cli_fail(EXIT_USAGE, "%s %s and %s %s are the same file: give them different names",
				                outputs[j]->what, outputs[j]->name, outputs[i]->what, outputs[i]->name);
	}
	return EXIT_OK;
}

/* ---------------------------------------------------------------------------------------------
 * Writing
 * ------------------------------------------------------------------------------------------- */

bool cli_write_all(int fd, const void *data, size_t bytes) {
	const unsigned char *p = data;
	while (bytes > 0) {
		const ssize_t n = write(fd, p, bytes);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EIO;
			return false;
		}
		p += n;
		bytes -= (size_t)n;
	}
	return true;
}

/* Opens a stream (a FIFO or a device) for writing.  Called with the stop signals blocked: a FIFO
 * with no reader yet is waited for until one comes or a stop signal is pending (then EINTR). */
static int open_stream(const char *path) {
	for (;;) {
		const int fd = open(path, O_WRONLY | O_NONBLOCK | O_CLOEXEC);
		if (fd >= 0) {
			const int flags = fcntl(fd, F_GETFL);
			if (flags != -1)
				fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
			return fd;
		}
		if (errno != ENXIO) /* ENXIO: a FIFO nobody reads yet */
			return -1;
		sigset_t pending;
		if (sigpending(&pending) == 0 &&
		    (sigismember(&pending, SIGINT) || sigismember(&pending, SIGTERM) || sigismember(&pending, SIGHUP))) {
			errno = EINTR;
			return -1;
		}
		const struct timespec wait = {0, STREAM_WAIT_NS};
		nanosleep(&wait, NULL);
	}
}

/* Copies a file's bytes to a stream (a FIFO or a device), in place. */
static bool copy_to_stream(const char *from, const char *to) {
	const int in = open(from, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return false;
	const int out = open_stream(to);
	bool ok = out >= 0;
	char buf[COPY_CHUNK];
	ssize_t n;
	while (ok && (n = read(in, buf, sizeof buf)) != 0)
		ok = n > 0 ? cli_write_all(out, buf, (size_t)n) : errno == EINTR;
	const int e = errno;
	if (out >= 0 && close(out) != 0 && ok)
		ok = false;
	else
		errno = e;
	close(in);
	return ok;
}

static enum nst_status save_picture(const struct cli_file *f, const struct nst_image *img, int quality,
                                   struct nst_diag *diag) {
	if (f->stdio)
		return nst_image_save("-", img, quality, diag);
	if (!f->stream)
		return nst_image_save(f->path, img, quality, diag);
	/* A stream: encoded into a private temporary folder (the format by the extension), then copied. */
	const char *tmpdir = getenv("TMPDIR");
	char dir[CLI_PATH_BYTES], file[CLI_PATH_BYTES];
	const char *ext = extension(f->name);
	if ((size_t)snprintf(dir, sizeof dir, "%s/nst-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp") >= sizeof dir - 32 ||
	    !mkdtemp(dir)) {
		snprintf(diag->message, sizeof diag->message, "%.200s: cannot make a temporary folder in $TMPDIR or /tmp: %s",
		         f->name, strerror(errno));
		return NST_ERR_IO;
	}
	if ((size_t)snprintf(file, sizeof file, "%s/picture%s", dir, ext ? ext : ".png") >= sizeof file)
		return NST_ERR_IO; /* cannot happen: dir is short */
	enum nst_status st = nst_image_save(file, img, quality, diag);
	if (st == NST_OK && !copy_to_stream(file, f->path)) {
		snprintf(diag->message, sizeof diag->message, "cannot write %s: %s", f->name,
		         errno == EINTR ? "nothing read it before the next stop signal" : strerror(errno));
		st = NST_ERR_IO;
	}
	unlink(file);
	rmdir(dir);
	return st;
}

enum nst_status cli_save_picture(const struct cli_file *f, const struct nst_image *img, int quality,
                                 struct nst_diag *diag) {
	sigset_t mask;
	cli_signals_block(&mask); /* a stop signal waits for the file to be whole */
	const enum nst_status st = save_picture(f, img, quality, diag);
	cli_signals_restore(&mask);
	return st;
}

/* 0 or the errno. */
static int write_data(const struct cli_file *f, const void *data, size_t bytes) {
	if (f->stdio)
		return fwrite(data, 1, bytes, stdout) == bytes && fflush(stdout) == 0 ? 0 : errno ? errno : EIO;
	if (f->stream) {
		const int fd = open_stream(f->path);
		if (fd < 0)
			return errno;
		const int e = cli_write_all(fd, data, bytes) ? 0 : errno;
		return close(fd) != 0 && !e ? errno : e;
	}
	/* "<folder>/.<name>.tmp-XXXXXX" beside the target, renamed over it once whole. */
	char folder[CLI_PATH_BYTES], tmp[CLI_PATH_BYTES];
	folder_of(f->path, folder, sizeof folder);
	if (!temporary_name(f->path, folder, tmp, sizeof tmp))
		return ENAMETOOLONG;
	const int fd = mkstemp(tmp);
	if (fd < 0)
		return errno;
	const mode_t mask = umask(0);
	umask(mask);
	int e = fchmod(fd, 0666 & ~mask) == 0 && cli_write_all(fd, data, bytes) && fsync(fd) == 0 ? 0 : errno;
	if (close(fd) != 0 && !e)
		e = errno;
	if (!e && rename(tmp, f->path) != 0)
		e = errno;
	if (e)
		unlink(tmp);
	return e;
}

int cli_write_bytes(const struct cli_file *f, const void *data, size_t bytes) {
	sigset_t mask;
	cli_signals_block(&mask); /* a stop signal waits for the file to be whole */
	const int e = write_data(f, data, bytes);
	cli_signals_restore(&mask);
	return e;
}

int cli_write_data(const struct cli_file *f, const void *data, size_t bytes) {
	const int e = cli_write_bytes(f, data, bytes);
	if (e)
		return cli_fail(EXIT_FAILURE_RUN, "cannot write %s: %s", f->stdio ? "standard output" : f->name, strerror(e));
	return EXIT_OK;
}
