/*
 * A weights file that changes under the loader (issue 19, item 13): truncated in place while
 * nst_weights_open reads it, or after it was opened, while its layers are read.  A mapped file
 * raised SIGBUS there; the loader must return an error (or, once opened, keep working on what it
 * read and checked), never die of a signal.
 *
 * The truncation is made deterministic by interposing pread: this program defines it (the
 * library, linked statically, calls this definition), serves each call with lseek + read, and
 * truncates the file right after the call chosen.  Every case runs in a child process, so that a
 * SIGBUS is reported as a failed check instead of ending the test.
 */
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "internal.h"
#include "support.h"

#define PATH_BYTES 1024

/* The interposer's plan: after call number truncate_after (1-based) of pread on any file,
 * truncate truncate_path to truncate_to bytes.  0: never. */
static int pread_calls;
static int truncate_after;
static off_t truncate_to;
static char truncate_path[PATH_BYTES];

ssize_t pread(int fd, void *buf, size_t count, off_t offset) {
	ssize_t n = -1;
	if (lseek(fd, offset, SEEK_SET) == offset)
		n = read(fd, buf, count);
	if (++pread_calls == truncate_after && truncate(truncate_path, truncate_to) != 0)
		perror("truncate");
	return n;
}

enum outcome { REFUSED, OPENED_AND_READ, CRASHED, OTHER };

/* In a child: copy good to path, arm the interposer, open, then (when opened) truncate the file
 * to after_open bytes (-1: leave it) and read every layer.  Exit codes say what happened; the
 * parent turns a signal into CRASHED. */
static enum outcome run_case(const char *good, const char *path, int after_call, off_t to, off_t after_open,
                             char *message, size_t message_size) {
	int pipefd[2];
	if (pipe(pipefd) != 0)
		return OTHER;
	const pid_t pid = fork();
	if (pid == 0) {
		close(pipefd[0]);
		char cmd[3 * PATH_BYTES];
		snprintf(cmd, sizeof cmd, "cp '%s' '%s'", good, path);
		if (system(cmd) != 0)
			_exit(20);
		snprintf(truncate_path, sizeof truncate_path, "%s", path);
		truncate_after = after_call;
		truncate_to = to;
		pread_calls = 0;
		struct nst_weights *w = NULL;
		struct nst_diag diag = {{0}};
		const enum nst_status st = nst_weights_open(path, &w, &diag);
		if (write(pipefd[1], diag.message, strlen(diag.message)) < 0)
			_exit(21);
		if (pread_calls == 0)
			_exit(22); /* the interposer was not used: the test proves nothing */
		if (st != NST_OK)
			_exit(w == NULL ? 0 : 23);
		if (after_open >= 0 && truncate(path, after_open) != 0)
			_exit(24);
		for (int i = 0; i < nst_weights_layer_count(w); i++) {
			struct nst_layer_info info;
			nst_weights_layer(w, i, &info);
			float *k = malloc(sizeof(float) * (size_t)info.kernel_h * (size_t)info.kernel_w *
			                  (size_t)info.in_channels * (size_t)info.out_channels);
			float *v = malloc(sizeof(float) * (size_t)info.out_channels);
			if (!k || !v)
				_exit(25);
			nst_weights_read_kernel(w, i, k);
			nst_weights_read_vector(w, i, NST_VECTOR_BIAS, v);
			free(k);
			free(v);
		}
		nst_weights_close(w);
		_exit(10);
	}
	close(pipefd[1]);
	const ssize_t n = read(pipefd[0], message, message_size - 1);
	message[n > 0 ? n : 0] = '\0';
	close(pipefd[0]);
	int status = 0;
	if (pid < 0 || waitpid(pid, &status, 0) != pid)
		return OTHER;
	if (WIFSIGNALED(status)) {
		snprintf(message, message_size, "killed by signal %d (%s)", WTERMSIG(status), strsignal(WTERMSIG(status)));
		return CRASHED;
	}
	if (WEXITSTATUS(status) == 0)
		return REFUSED;
	if (WEXITSTATUS(status) == 10)
		return OPENED_AND_READ;
	snprintf(message + strlen(message), message_size - strlen(message), " [child exit %d]", WEXITSTATUS(status));
	return OTHER;
}

int main(void) {
	char *dir = support_tmpdir("weights-load");
	if (!dir)
		return 1;
	char good[PATH_BYTES], path[PATH_BYTES], message[1024];
	snprintf(good, sizeof good, "%s/good.nstw", dir);
	snprintf(path, sizeof path, "%s/shrinking.nstw", dir);
	/* Large enough for many pages beyond the header: 64 + 64 + 128 channels, about 0.5 MB. */
	const struct support_vgg_layer layers[] = {{1, 64, 0}, {1, 64, 0}, {2, 128, 0}};
	CHECK(support_write_vgg(good, layers, 3, 7, NST_DTYPE_F32) == 0, "write %s", good);
	struct stat st;
	CHECK(stat(good, &st) == 0 && st.st_size > 256 * 1024, "the file has %lld bytes", (long long)st.st_size);
	const off_t size = st.st_size;

	/* The control: nothing truncated, it opens and every layer reads. */
	enum outcome o = run_case(good, path, 0, 0, -1, message, sizeof message);
	CHECK(o == OPENED_AND_READ, "untouched file: outcome %d: %s", (int)o, message);

	/* Truncated right after the header was read: to half, to a page past the header, to the
	 * header alone, to nothing. */
	const off_t sizes[] = {size / 2, NSTW_HEADER_BYTES + 4096, NSTW_HEADER_BYTES, 0};
	for (size_t i = 0; i < sizeof sizes / sizeof sizes[0]; i++) {
		o = run_case(good, path, 1, sizes[i], -1, message, sizeof message);
		CHECK(o == REFUSED, "truncated to %lld bytes while loading: %s", (long long)sizes[i],
		      o == CRASHED ? message : o == OPENED_AND_READ ? "accepted" : message);
		if (o == REFUSED)
			CHECK(strstr(message, "truncated") != NULL, "the refusal does not say truncated: %s", message);
	}
	/* Truncated after it was opened: the layers are read from what was loaded and checked. */
	o = run_case(good, path, 0, 0, 0, message, sizeof message);
	CHECK(o == OPENED_AND_READ, "truncated after the open, then every layer read: %s",
	      o == CRASHED ? message : "refused or failed");
	o = run_case(good, path, 0, 0, size / 3, message, sizeof message);
	CHECK(o == OPENED_AND_READ, "cut to a third after the open: %s", o == CRASHED ? message : "refused or failed");

	support_rmdir(dir);
	free(dir);
	return check_finish("test_weights_load");
}
