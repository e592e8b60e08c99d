/*
 * Whether -c is a frame stream (src/cli/cli.h): an option says so, or its first bytes are the
 * YUV4MPEG2 magic, looked at without taking them (tee(2) on a pipe, pread on a file, MSG_PEEK on a
 * socket), so that a picture on standard input or through a FIFO is still read whole as today.
 */
#define _GNU_SOURCE /* tee(2) */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../frames.h"
#include "cli.h"

#define PEEK_RETRY_NS 1000000L   /* a pipe holding part of the magic: look again after 1 ms */

/* The first n bytes of a pipe, duplicated with tee(2) (the pipe keeps them): how many there are
 * (fewer at its end), or -1 when fd is not a pipe. */
static ssize_t peek_pipe(int fd, uint8_t *buf, size_t n) {
	int p[2];
	if (pipe(p) != 0)
		return -1;
	ssize_t got;
	for (;;) {
		got = tee(fd, p[1], n, 0);
		if (got < 0 && errno == EINTR)
			continue;
		if (got <= 0)
			break;
		const ssize_t r = read(p[0], buf, (size_t)got);
		if (r != got) {
			got = -1;
			break;
		}
		if ((size_t)got >= n || memcmp(buf, NST_Y4M_MAGIC, (size_t)got) != 0)
			break; /* enough, or already not the magic */
		struct pollfd pf = {.fd = fd, .events = POLLIN};
		int queued = 0;
		if (poll(&pf, 1, 0) == 1 && (pf.revents & POLLHUP) && ioctl(fd, FIONREAD, &queued) == 0 && queued == got)
			break; /* the writer is gone: that is all there is */
		const struct timespec pause = {0, PEEK_RETRY_NS};
		nanosleep(&pause, NULL);
	}
	close(p[0]);
	close(p[1]);
	return got;
}

/* The first n bytes of fd without taking them: a pipe (tee), a regular file (pread at its offset),
 * a socket (MSG_PEEK); -1 for anything else (a terminal, a device). */
static ssize_t peek(int fd, uint8_t *buf, size_t n) {
	struct stat st;
	if (fstat(fd, &st) != 0)
		return -1;
	if (S_ISFIFO(st.st_mode))
		return peek_pipe(fd, buf, n);
	if (S_ISREG(st.st_mode)) {
		const off_t at = lseek(fd, 0, SEEK_CUR);
		return at < 0 ? -1 : pread(fd, buf, n, at);
	}
	if (S_ISSOCK(st.st_mode))
		return recv(fd, buf, n, MSG_PEEK | MSG_WAITALL);
	return -1;
}

int cli_stream_open_input(const char *path) {
	int fd;
	do {
		fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	} while (fd < 0 && errno == EINTR);
	if (fd < 0)
		return -1;
	struct stat st;
	if (fstat(fd, &st) == 0 && S_ISFIFO(st.st_mode)) {
		struct pollfd p = {.fd = fd, .events = POLLIN};
		int ready;
		do {
			ready = poll(&p, 1, NST_FIFO_WAIT_MS); /* as for pictures */
		} while (ready < 0 && errno == EINTR);
		if (ready == 0) {
			close(fd);
			errno = ETIMEDOUT;
			return -1;
		}
	}
	const int flags = fcntl(fd, F_GETFL);
	if (flags != -1)
		fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
	return fd;
}

enum cli_input_kind cli_stream_detect(const struct cli_stream_options *o, int *keep_fd) {
	*keep_fd = -1;
	if (o->input_format != CLI_FRAMES_AUTO || o->frame_width > 0)
		return CLI_INPUT_STREAM;
	uint8_t magic[sizeof NST_Y4M_MAGIC - 1];
	const bool is_stdin = !strcmp(o->input, "-");
	struct stat st;
	if (!is_stdin && (stat(o->input, &st) != 0 || S_ISDIR(st.st_mode)))
		return CLI_INPUT_PICTURE; /* a folder, or an error the picture path reports */
	const int fd = is_stdin ? STDIN_FILENO : cli_stream_open_input(o->input);
	if (fd < 0 && errno == ETIMEDOUT) {
		cli_fail(EXIT_FAILURE_RUN, "cannot read %s: %s", o->input, CLI_FIFO_IDLE_MESSAGE);
		return CLI_INPUT_FIFO_IDLE;
	}
	if (fd < 0)
		return CLI_INPUT_PICTURE;
	const ssize_t got = peek(fd, magic, sizeof magic);
	const bool y4m = got == (ssize_t)sizeof magic && !memcmp(magic, NST_Y4M_MAGIC, sizeof magic);
	if (!is_stdin) {
		if (S_ISFIFO(st.st_mode))
			*keep_fd = fd; /* the FIFO's writer keeps a reader (the picture's reader opens it again) */
		else
			close(fd);
	}
	return y4m ? CLI_INPUT_STREAM : CLI_INPUT_PICTURE;
}
