/*
 * Frame streams through the one-pass networks (src/cli/cli.h):
 *
 *   ffmpeg -i in.mp4 -f yuv4mpegpipe - | nst --model candy -c - -o - | ffplay -
 *   rpicam-vid -t 0 --codec yuv420 --width 640 --height 360 -o - |
 *       nst --model candy -c - --frame-size 640x360 --input-format yuv420p -o - | ffplay -
 *
 * The input: YUV4MPEG2 (detected by its header) or raw frames of --frame-size (RGB24, or I420 with
 * --input-format yuv420p).  The output: YUV4MPEG2 with the input's header (size as run, rate,
 * aspect, interlacing, chroma), raw frames, or a PNG sequence in a directory.  A reader thread
 * reads and converts frame N+1 while frame N is stylized and a writer thread converts and writes
 * frame N-1; two frames at most wait on each side, so a slow consumer blocks nst (no unbounded
 * buffering).  Every buffer is allocated before the first frame, --size's resampling scratch
 * (nst_image_resize_into) too; a PNG sequence's encoder (libpng) allocates per frame.
 *
 * Whether -c is a stream at all: src/cli/stream_detect.c.
 *
 * Endings: the input ending between frames is the normal end (0); a truncated last frame, a broken
 * pipe on the output, a read or write error end it after the complete frames are written (1, with
 * one line); SIGINT / SIGTERM / SIGHUP finish and write the frame being stylized, then stop (130).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../frames.h"
#include "cli.h"

#define MAX_SIDE 16384
#define MAX_PIXELS (8192LL * 8192LL)
#define RGB 3
#define SLOTS 2                  /* frames waiting between reader and network, and network and writer */
#define READ_BUFFER (64 * 1024)  /* the reader's buffer */
#define POLL_MS 100              /* how often blocked threads look at the stop flags */
#define DEFAULT_RATE 25          /* frames per second in a Y4M header when nothing says */
#define TTY_PROGRESS_S 0.5       /* the \r line's refresh on a terminal */
#define FRAME_NAME "frame_%06lld.png"
#define MSG_BYTES 1024 /* more than a diag's message */

/* ---------------------------------------------------------------------------------------------
 * Reading frames
 * ------------------------------------------------------------------------------------------- */

struct reader {
	int fd;
	const char *name;          /* for messages */
	const atomic_bool *stop;   /* polled while waiting for input */
	uint8_t buf[READ_BUFFER];
	size_t pos, len;
	bool ended;
	int error;                 /* errno of a failed read */
};

/* More bytes into the buffer (which is empty); false at the end, on an error or when stopped. */
static bool reader_fill(struct reader *r) {
	r->pos = r->len = 0;
	while (!r->ended) {
		if ((r->stop && atomic_load(r->stop)) || cli_stop_signal())
			return false;
		struct pollfd p = {.fd = r->fd, .events = POLLIN};
		const int ready = poll(&p, 1, POLL_MS);
		if (ready == 0 || (ready < 0 && errno == EINTR))
			continue;
		const ssize_t n = read(r->fd, r->buf, sizeof r->buf);
		if (n < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (n < 0) {
			r->error = errno;
			return false;
		}
		if (n == 0)
			r->ended = true;
		r->len = (size_t)n;
		return n > 0;
	}
	return false;
}

/* Up to n bytes into dst; how many came (fewer: the end, an error or a stop). */
static size_t reader_take(struct reader *r, uint8_t *dst, size_t n) {
	size_t got = 0;
	while (got < n) {
		if (r->pos == r->len && !reader_fill(r))
			break;
		const size_t k = r->len - r->pos < n - got ? r->len - r->pos : n - got;
		memcpy(dst + got, r->buf + r->pos, k);
		r->pos += k;
		got += k;
	}
	return got;
}

/* A line (without its '\n') of at most max bytes into line: its length; -1 at the end before any
 * byte, -2 when it is longer or the input ends inside it. */
static long reader_line(struct reader *r, char *line, size_t max) {
	size_t n = 0;
	for (;;) {
		if (r->pos == r->len && !reader_fill(r))
			return n == 0 ? -1 : -2;
		const uint8_t c = r->buf[r->pos++];
		if (c == '\n')
			return (long)n;
		if (n == max)
			return -2;
		line[n++] = (char)c;
	}
}

/* ---------------------------------------------------------------------------------------------
 * The stream
 * ------------------------------------------------------------------------------------------- */

enum read_result { READ_FRAME, READ_END, READ_FAILED };

struct slot_ring {
	uint8_t *slot[SLOTS]; /* each [height][width][3] */
	int head, count;
	bool closed;          /* the producer is done */
};

struct cli_stream {
	struct cli_stream_options o;
	struct reader *in;           /* malloc'ed (its buffer is large) */
	int in_fd;                   /* owned when not standard input */
	enum cli_frames in_format, out_format;
	struct nst_y4m_header header; /* the input's (Y4M), or what raw input gives */
	int frame_w, frame_h;        /* as read */
	int w, h;                    /* as run (after --size) */
	size_t in_bytes, out_bytes;  /* one frame's bytes in and out */
	int out_fd;                  /* standard output, or the file; -1 for a PNG sequence */
	bool out_owned;
	char out_dir[CLI_PATH_BYTES];
	/* the pipeline */
	pthread_mutex_t m;
	pthread_cond_t cv;
	struct slot_ring ready, done; /* read -> network; network -> written */
	atomic_bool stop_reading;    /* the reader leaves (a stop signal, or an error elsewhere) */
	atomic_bool abort;           /* everything stops: the output failed */
	/* buffers, all allocated before the first frame */
	uint8_t *raw;                /* [in_bytes]: a frame as read */
	uint8_t *full;               /* [frame_h][frame_w][3]: converted, before --size */
	void *resize_scratch;        /* [resize_bytes]: --size's resampling */
	size_t resize_bytes;
	uint8_t *encoded;            /* [out_bytes]: a frame to write */
	float *yuv_scratch;          /* [nst_yuv_scratch_floats] */
	uint8_t *prev_in, *prev_out; /* [h][w][3]: the previous frame and its (steadied) result */
	float *steady_scratch;       /* [nst_steady_scratch_floats] */
	uint8_t *result;             /* [h][w][3]: the network's output (sequential mode) */
	/* what happened */
	long long read_count, written_count;
	char read_msg[MSG_BYTES], write_msg[MSG_BYTES];
	int read_code, write_code;
};

static const char *input_name(const struct cli_stream *s) {
	return !strcmp(s->o.input, "-") ? "standard input" : s->o.input;
}

static const char *output_name(const struct cli_stream *s) {
	return !strcmp(s->o.output, "-") ? "standard output" : s->o.output;
}

static const char *format_name(enum cli_frames f) {
	switch (f) {
	case CLI_FRAMES_Y4M: return "YUV4MPEG2";
	case CLI_FRAMES_RGB24: return "raw RGB24";
	case CLI_FRAMES_YUV420P: return "raw I420";
	case CLI_FRAMES_PNG: return "PNG sequence";
	default: return "auto";
	}
}

static bool is_dir_name(const char *path) {
	struct stat st;
	const size_t n = strlen(path);
	return (n > 0 && path[n - 1] == '/') || (stat(path, &st) == 0 && S_ISDIR(st.st_mode));
}

/* Reads the input's header (Y4M) or takes --frame-size (raw). */
static int read_header(struct cli_stream *s) {
	struct nst_diag diag = {{0}};
	if (s->in_format == CLI_FRAMES_AUTO) { /* YUV4MPEG2 by its header, else raw RGB24 of --frame-size */
		const size_t magic = strlen(NST_Y4M_MAGIC);
		if (s->in->len == 0)
			reader_fill(s->in);
		const bool y4m = s->in->len >= magic && !memcmp(s->in->buf, NST_Y4M_MAGIC, magic);
		s->in_format = y4m || s->o.frame_width <= 0 ? CLI_FRAMES_Y4M : CLI_FRAMES_RGB24;
	}
	if (s->in_format != CLI_FRAMES_Y4M) {
		if (s->o.frame_width <= 0)
			return cli_fail(EXIT_USAGE, "--input-format %s needs --frame-size WxH", s->in_format == CLI_FRAMES_RGB24 ? "rgb24" : "yuv420p");
		if (s->in->len == 0)
			reader_fill(s->in);
		const char *picture = nst_picture_signature(s->in->buf, s->in->len);
		if (picture)
			return cli_fail(EXIT_USAGE, "%s is a %s picture, not raw frames: without --frame-size%s it is painted as a picture",
			                input_name(s), picture, s->o.input_format == CLI_FRAMES_AUTO ? "" : " and --input-format");
		s->header = (struct nst_y4m_header){.width = s->o.frame_width, .height = s->o.frame_height,
		                                    .chroma = NST_CHROMA_420JPEG};
	} else {
		char line[NST_Y4M_MAX_LINE];
		const long n = reader_line(s->in, line, sizeof line);
		if (n < 0 && cli_stop_signal())
			return cli_fail(EXIT_INTERRUPTED, "interrupted (%s) before the first frame",
			                cli_signal_name(cli_stop_signal()));
		if (n < 0 && s->in->error)
			return cli_fail(EXIT_FAILURE_RUN, "cannot read %s: %s", input_name(s), strerror(s->in->error));
		if (n == -1)
			return cli_fail(EXIT_FAILURE_RUN, "%s: empty: no YUV4MPEG2 header", input_name(s));
		if (n < 0)
			return cli_fail(EXIT_FAILURE_RUN, "%s: not a YUV4MPEG2 header (no end of line in its first %d bytes)",
			                input_name(s), NST_Y4M_MAX_LINE);
		const enum nst_status st = nst_y4m_parse_header(line, (size_t)n, MAX_SIDE, MAX_PIXELS, &s->header, &diag);
		if (st != NST_OK)
			return cli_fail(EXIT_FAILURE_RUN, "%s: %s", input_name(s), diag.message);
		if (s->o.frame_width > 0 &&
		    (s->o.frame_width != s->header.width || s->o.frame_height != s->header.height))
			return cli_fail(EXIT_USAGE, "--frame-size %dx%d, but the YUV4MPEG2 header says %dx%d", s->o.frame_width,
			                s->o.frame_height, s->header.width, s->header.height);
	}
	if (s->o.rate_num > 0) {
		s->header.rate_num = s->o.rate_num;
		s->header.rate_den = s->o.rate_den;
	}
	s->frame_w = s->header.width;
	s->frame_h = s->header.height;
	return EXIT_OK;
}

/* Where the results go: standard output, a file (written as it comes) or a directory of PNGs. */
static int open_output(struct cli_stream *s) {
	s->out_fd = -1;
	if (s->out_format == CLI_FRAMES_AUTO) {
		s->out_format = strcmp(s->o.output, "-") && is_dir_name(s->o.output) ? CLI_FRAMES_PNG
		                : s->in_format == CLI_FRAMES_RGB24 ? CLI_FRAMES_RGB24
		                                                   : CLI_FRAMES_Y4M;
		if (s->out_format != CLI_FRAMES_PNG && cli_names_picture(s->o.output)) /* frames in a .png: never */
			return cli_fail(EXIT_USAGE, "-o %s: a stream's frames go out as %s (its input's kind); for pictures "
			                "give -o DIR/ (a PNG per frame)", s->o.output, format_name(s->out_format));
	}
	if (s->out_format == CLI_FRAMES_PNG) {
		if (!strcmp(s->o.output, "-"))
			return cli_fail(EXIT_USAGE, "--output-format png writes a directory: give -o DIR/");
		snprintf(s->out_dir, sizeof s->out_dir, "%s", s->o.output);
		size_t n = strlen(s->out_dir);
		while (n > 1 && s->out_dir[n - 1] == '/')
			s->out_dir[--n] = '\0';
		if (mkdir(s->out_dir, 0777) != 0 && errno != EEXIST)
			return cli_fail(EXIT_FAILURE_RUN, "cannot create the directory %s: %s", s->out_dir, strerror(errno));
		if (!is_dir_name(s->out_dir))
			return cli_fail(EXIT_USAGE, "-o %s: not a directory (a PNG sequence goes into one)", s->out_dir);
		return EXIT_OK;
	}
	if (!strcmp(s->o.output, "-")) {
		s->out_fd = STDOUT_FILENO;
		return EXIT_OK;
	}
	if (is_dir_name(s->o.output))
		return cli_fail(EXIT_USAGE, "-o %s is a directory: --output-format %s writes one file (png writes a directory)",
		                s->o.output, s->out_format == CLI_FRAMES_Y4M ? "y4m" : "rgb24");
	struct cli_file in, out;
	cli_input_identify(&in, "-c", s->o.input);
	const int checked = cli_output_check(&out, "-o", s->o.output, CLI_OUTPUT_DATA, 0); /* as the pictures' -o */
	if (checked != EXIT_OK)
		return checked;
	if (strcmp(s->o.input, "-") && cli_same_file(&in, &out))
		return cli_fail(EXIT_USAGE, "-o %s is the input (-c %s): an input is never overwritten", s->o.output, s->o.input);
	s->out_fd = open(s->o.output, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0666);
	if (s->out_fd < 0)
		return cli_fail(EXIT_FAILURE_RUN, "cannot write %s: %s", s->o.output, strerror(errno));
	s->out_owned = true;
	return EXIT_OK;
}

int cli_stream_open(const struct cli_stream_options *o, struct cli_stream **out, int *width, int *height) {
	*out = NULL;
	struct cli_stream *s = calloc(1, sizeof *s);
	if (!s || !(s->in = calloc(1, sizeof *s->in))) {
		free(s);
		return cli_fail(EXIT_MEMORY, "out of memory");
	}
	s->o = *o;
	s->in_format = o->input_format;
	s->out_format = o->output_format;
	s->in_fd = -1;
	s->out_fd = -1;
	*out = s;
	if (o->input_fd >= 0) {
		s->in->fd = s->in_fd = o->input_fd;
	} else if (!strcmp(o->input, "-")) {
		s->in->fd = STDIN_FILENO;
	} else if ((s->in->fd = s->in_fd = cli_stream_open_input(o->input)) < 0) {
		return cli_fail(EXIT_FAILURE_RUN, "cannot read %s: %s", o->input,
		                errno == ETIMEDOUT ? CLI_FIFO_IDLE_MESSAGE : strerror(errno));
	}
	s->in->name = input_name(s);
	s->in->stop = &s->stop_reading;
	int rc = read_header(s);
	if (rc != EXIT_OK)
		return rc;
	s->w = s->frame_w;
	s->h = s->frame_h;
	if (o->size)
		nst_image_fit(s->frame_w, s->frame_h, o->size, &s->w, &s->h);
	s->in_bytes = s->in_format == CLI_FRAMES_RGB24 ? (size_t)s->frame_w * (size_t)s->frame_h * RGB
	              : nst_yuv_frame_bytes(s->frame_w, s->frame_h,
	                                    s->in_format == CLI_FRAMES_YUV420P ? NST_CHROMA_420JPEG : s->header.chroma);
	if ((rc = open_output(s)) != EXIT_OK)
		return rc;
	if (s->in_format != CLI_FRAMES_Y4M)
		s->header.chroma = NST_CHROMA_420JPEG; /* raw input: the output's default */
	s->out_bytes = s->out_format == CLI_FRAMES_Y4M || s->out_format == CLI_FRAMES_YUV420P
	                   ? nst_yuv_frame_bytes(s->w, s->h, s->out_format == CLI_FRAMES_Y4M ? s->header.chroma : NST_CHROMA_420JPEG)
	                   : (size_t)s->w * (size_t)s->h * RGB;
	*width = s->w;
	*height = s->h;
	return EXIT_OK;
}

void cli_stream_close(struct cli_stream *s) {
	if (!s)
		return;
	if (s->in_fd >= 0)
		close(s->in_fd);
	if (s->out_owned && s->out_fd >= 0)
		close(s->out_fd);
	free(s->in);
	free(s);
}

/* ---- one frame in, one frame out ----------------------------------------------------------- */

/* The next frame into rgb [h][w][3]: READ_FRAME, READ_END (between frames), READ_FAILED (the
 * message in s->read_msg, the code in s->read_code). */
static enum read_result read_frame(struct cli_stream *s, uint8_t *rgb) {
	const long long number = s->read_count + 1;
	if (s->in_format == CLI_FRAMES_Y4M) {
		char line[NST_Y4M_MAX_LINE];
		const long n = reader_line(s->in, line, sizeof line);
		if (n == -1 && !s->in->error)
			return READ_END;
		if (n < 0 || !nst_y4m_frame_line(line, (size_t)n)) {
			if (atomic_load(&s->stop_reading) || cli_stop_signal())
				return READ_END;
			s->read_code = EXIT_FAILURE_RUN;
			if (s->in->error)
				snprintf(s->read_msg, sizeof s->read_msg, "cannot read %s: %s", input_name(s), strerror(s->in->error));
			else
				snprintf(s->read_msg, sizeof s->read_msg, "%s: frame %lld: no FRAME line where one should be%s",
				         input_name(s), number, n == -2 ? " (the input ended, or a line too long)" : "");
			return READ_FAILED;
		}
	}
	const size_t got = reader_take(s->in, s->raw, s->in_bytes);
	if (got < s->in_bytes) {
		if (atomic_load(&s->stop_reading) || cli_stop_signal())
			return READ_END;
		if (got == 0 && !s->in->error && s->in_format != CLI_FRAMES_Y4M)
			return READ_END;
		s->read_code = EXIT_FAILURE_RUN;
		if (s->in->error)
			snprintf(s->read_msg, sizeof s->read_msg, "cannot read %s: %s", input_name(s), strerror(s->in->error));
		else
			snprintf(s->read_msg, sizeof s->read_msg, "%s ended inside frame %lld (%zu of its %zu bytes)", input_name(s),
			         number, got, s->in_bytes);
		return READ_FAILED;
	}
	uint8_t *target = s->w == s->frame_w && s->h == s->frame_h ? rgb : s->full;
	if (s->in_format == CLI_FRAMES_RGB24)
		memcpy(target, s->raw, s->in_bytes);
	else
		nst_yuv_to_rgb(s->raw, s->frame_w, s->frame_h,
		               s->in_format == CLI_FRAMES_YUV420P ? NST_CHROMA_420JPEG : s->header.chroma, s->header.range, target);
	if (target == s->full) { /* --size */
		const struct nst_image whole = {s->frame_w, s->frame_h, s->full};
		struct nst_image small = {s->w, s->h, rgb};
		if (nst_image_resize_into(&whole, &small, s->resize_scratch, s->resize_bytes) != NST_OK) {
			s->read_code = EXIT_FAILURE_RUN; /* the scratch was sized for these sides: not expected */
			snprintf(s->read_msg, sizeof s->read_msg, "cannot resize frame %lld", number);
			return READ_FAILED;
		}
	}
	s->read_count++;
	return READ_FRAME;
}

/* A result rgb [h][w][3] written as the output says; false with s->write_msg on a failure. */
static bool write_frame(struct cli_stream *s, const uint8_t *rgb) {
	const long long number = s->written_count + 1;
	int e = 0;
	if (s->out_format == CLI_FRAMES_PNG) {
		char path[CLI_PATH_BYTES];
		struct nst_diag diag = {{0}};
		const struct nst_image img = {s->w, s->h, (uint8_t *)rgb};
		const int n = snprintf(path, sizeof path, "%s/" FRAME_NAME, s->out_dir, number);
		if (n < 0 || (size_t)n >= sizeof path)
			snprintf(diag.message, sizeof diag.message, "-o: the frames' path is too long");
		if (n < 0 || (size_t)n >= sizeof path || nst_image_save(path, &img, 0, &diag) != NST_OK) {
			snprintf(s->write_msg, sizeof s->write_msg, "%s", diag.message);
			s->write_code = EXIT_FAILURE_RUN;
			return false;
		}
	} else {
		const void *bytes = rgb;
		if (s->out_format != CLI_FRAMES_RGB24) {
			/* Y4M: the range the input had (its header says so); raw I420, which has no header: limited */
			const bool y4m = s->out_format == CLI_FRAMES_Y4M;
			nst_rgb_to_yuv(rgb, s->w, s->h, y4m ? s->header.chroma : NST_CHROMA_420JPEG,
			               y4m ? s->header.range : NST_RANGE_LIMITED, s->encoded, s->yuv_scratch);
			bytes = s->encoded;
		}
		static const char frame_line[] = NST_Y4M_FRAME_MAGIC "\n";
		if ((s->out_format == CLI_FRAMES_Y4M && !cli_write_all(s->out_fd, frame_line, sizeof frame_line - 1)) ||
		    !cli_write_all(s->out_fd, bytes, s->out_bytes))
			e = errno;
	}
	if (e) {
		s->write_code = EXIT_FAILURE_RUN;
		if (e == EPIPE)
			snprintf(s->write_msg, sizeof s->write_msg, "%s was closed (broken pipe) after %lld frame%s",
			         output_name(s), s->written_count, s->written_count == 1 ? "" : "s");
		else
			snprintf(s->write_msg, sizeof s->write_msg, "cannot write frame %lld to %s: %s", number, output_name(s),
			         strerror(e));
		return false;
	}
	s->written_count++;
	return true;
}

/* The network's result out for in, steadied against the previous frame (prev_in, prev_out), which
 * then become this one. */
static enum nst_status stylize_frame(struct cli_stream *s, cli_stylize_fn fn, void *ctx, const uint8_t *in,
                                     uint8_t *out, long long index) {
	const enum nst_status st = fn(ctx, s->w, s->h, in, out);
	if (st != NST_OK)
		return st;
	const size_t bytes = (size_t)s->w * (size_t)s->h * RGB;
	if (s->o.steady > 0.0f) {
		const struct nst_steady_params p = {s->o.steady, NST_STEADY_DEFAULT_STILL, NST_STEADY_DEFAULT_MOVING,
		                                    NST_STEADY_DEFAULT_CUT};
		float change;
		if (index > 0)
			nst_steady_blend(&p, s->w, s->h, s->prev_in, in, s->prev_out, out, s->steady_scratch, &change);
		memcpy(s->prev_in, in, bytes);
		memcpy(s->prev_out, out, bytes);
	}
	return NST_OK;
}

/* ---- progress ---------------------------------------------------------------------------- */

struct progress {
	double start, last;
	bool tty;
};

static void progress(const struct cli_stream *s, struct progress *p, long long frames, bool final) {
	if (s->o.quiet)
		return;
	const double now = nst_seconds();
	const double fps = frames > 0 && now > p->start ? (double)frames / (now - p->start) : 0.0;
	if (final) {
		fprintf(stderr, "%snst: %lld frame%s %dx%d in %.1f s: %.1f frames/s\n", p->tty && p->last > p->start ? "\n" : "",
		        frames, frames == 1 ? "" : "s", s->w, s->h, now - p->start, fps);
		return;
	}
	if (now - p->last < (p->tty ? TTY_PROGRESS_S : CLI_STREAM_LOG_SECONDS))
		return;
	p->last = now;
	if (p->tty)
		fprintf(stderr, "\rnst: frame %lld, %.1f frames/s ", frames, fps);
	else
		fprintf(stderr, "nst: frame %lld, %.1f frames/s\n", frames, fps);
}

/* ---- the pipeline ----------------------------------------------------------------------- */

/* Waits on the condition for at most POLL_MS (the caller looks at its flags again). */
static void wait_a_while(struct cli_stream *s) {
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	t.tv_nsec += POLL_MS * 1000000L;
	if (t.tv_nsec >= 1000000000L) {
		t.tv_sec++;
		t.tv_nsec -= 1000000000L;
	}
	pthread_cond_timedwait(&s->cv, &s->m, &t);
}

/* A free slot of r to fill (NULL when the stream stops); *leave: a flag that ends the wait. */
static uint8_t *ring_slot_to_fill(struct cli_stream *s, struct slot_ring *r, const atomic_bool *leave) {
	pthread_mutex_lock(&s->m);
	while (r->count == SLOTS && !atomic_load(leave) && !atomic_load(&s->abort))
		wait_a_while(s);
	uint8_t *slot = atomic_load(leave) || atomic_load(&s->abort) ? NULL : r->slot[(r->head + r->count) % SLOTS];
	pthread_mutex_unlock(&s->m);
	return slot;
}

static void ring_filled(struct cli_stream *s, struct slot_ring *r) {
	pthread_mutex_lock(&s->m);
	r->count++;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

static void ring_close(struct cli_stream *s, struct slot_ring *r) {
	pthread_mutex_lock(&s->m);
	r->closed = true;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

/* The oldest filled slot of r (NULL: closed and empty, or aborted, or for the network thread a
 * stop signal: check_signal). */
static uint8_t *ring_slot_to_use(struct cli_stream *s, struct slot_ring *r, bool check_signal) {
	pthread_mutex_lock(&s->m);
	while (r->count == 0 && !r->closed && !atomic_load(&s->abort) && !(check_signal && cli_stop_signal()))
		wait_a_while(s);
	uint8_t *slot = r->count > 0 && !atomic_load(&s->abort) && !(check_signal && cli_stop_signal()) ? r->slot[r->head]
	                                                                                                 : NULL;
	pthread_mutex_unlock(&s->m);
	return slot;
}

static void ring_used(struct cli_stream *s, struct slot_ring *r) {
	pthread_mutex_lock(&s->m);
	r->head = (r->head + 1) % SLOTS;
	r->count--;
	pthread_cond_broadcast(&s->cv);
	pthread_mutex_unlock(&s->m);
}

static void *reader_thread(void *arg) {
	struct cli_stream *s = arg;
	for (;;) {
		uint8_t *slot = ring_slot_to_fill(s, &s->ready, &s->stop_reading);
		if (!slot || read_frame(s, slot) != READ_FRAME)
			break;
		ring_filled(s, &s->ready);
	}
	ring_close(s, &s->ready);
	return NULL;
}

static void *writer_thread(void *arg) {
	struct cli_stream *s = arg;
	uint8_t *slot;
	while ((slot = ring_slot_to_use(s, &s->done, false)) != NULL) {
		const bool ok = write_frame(s, slot);
		ring_used(s, &s->done);
		if (!ok) {
			atomic_store(&s->abort, true);
			pthread_mutex_lock(&s->m);
			pthread_cond_broadcast(&s->cv);
			pthread_mutex_unlock(&s->m);
			break;
		}
	}
	return NULL;
}

/* The frames through the network with a reader and a writer thread; the network's failure or EXIT_OK. */
static int run_pipeline(struct cli_stream *s, cli_stylize_fn fn, void *ctx, struct progress *p) {
	static const atomic_bool never = false;
	pthread_t reader, writer;
	sigset_t mask;
	cli_signals_block(&mask); /* the stop signals go to this thread */
	const bool have_reader = pthread_create(&reader, NULL, reader_thread, s) == 0;
	const bool have_writer = have_reader && pthread_create(&writer, NULL, writer_thread, s) == 0;
	cli_signals_restore(&mask);
	int rc = EXIT_OK;
	if (!have_writer)
		rc = cli_fail(EXIT_MEMORY, "cannot start the stream's threads");
	for (long long i = 0; rc == EXIT_OK; i++) {
		uint8_t *in = ring_slot_to_use(s, &s->ready, true);
		if (!in)
			break;
		uint8_t *out = ring_slot_to_fill(s, &s->done, &never);
		if (!out)
			break; /* the writer failed */
		const enum nst_status st = stylize_frame(s, fn, ctx, in, out, i);
		ring_used(s, &s->ready);
		if (st != NST_OK) {
			rc = cli_fail_status(st, NULL, "the network");
			break;
		}
		ring_filled(s, &s->done);
		progress(s, p, i + 1, false);
	}
	/* the reader stops; the frames stylized are written (unless the output failed) */
	atomic_store(&s->stop_reading, true);
	if (rc != EXIT_OK)
		atomic_store(&s->abort, true);
	ring_close(s, &s->done);
	if (have_reader)
		pthread_join(reader, NULL);
	if (have_writer)
		pthread_join(writer, NULL);
	return rc;
}

/* The same in turn, in this thread (--no-pipeline). */
static int run_in_turn(struct cli_stream *s, cli_stylize_fn fn, void *ctx, struct progress *p) {
	uint8_t *in = s->ready.slot[0], *out = s->done.slot[0];
	for (long long i = 0; !cli_stop_signal(); i++) {
		if (read_frame(s, in) != READ_FRAME)
			break;
		const enum nst_status st = stylize_frame(s, fn, ctx, in, out, i);
		if (st != NST_OK)
			return cli_fail_status(st, NULL, "the network");
		if (!write_frame(s, out))
			break;
		progress(s, p, i + 1, false);
	}
	return EXIT_OK;
}

static int allocate(struct cli_stream *s) {
	const size_t frame = (size_t)s->w * (size_t)s->h * RGB;
	bool ok = (s->raw = malloc(s->in_bytes)) != NULL;
	if (s->w != s->frame_w || s->h != s->frame_h) {
		ok = ok && (s->full = malloc((size_t)s->frame_w * (size_t)s->frame_h * RGB)) != NULL;
		s->resize_bytes = nst_image_resize_scratch_bytes(s->frame_w, s->frame_h, s->w, s->h);
		if (s->resize_bytes == 0) /* sizes the resampling refuses (the options checked them) */
			return cli_fail(EXIT_FAILURE_RUN, "cannot resize frames of %dx%d to %dx%d", s->frame_w, s->frame_h, s->w,
			                s->h);
		ok = ok && (s->resize_scratch = malloc(s->resize_bytes)) != NULL;
	}
	ok = ok && (s->encoded = malloc(s->out_bytes)) != NULL;
	ok = ok && (s->yuv_scratch = malloc(nst_yuv_scratch_floats(s->w, s->h) * sizeof(float))) != NULL;
	if (s->o.steady > 0.0f) {
		ok = ok && (s->prev_in = malloc(frame)) && (s->prev_out = malloc(frame));
		ok = ok && (s->steady_scratch = malloc(nst_steady_scratch_floats(s->w, s->h) * sizeof(float)));
	}
	for (int i = 0; i < SLOTS; i++) {
		ok = ok && (s->ready.slot[i] = malloc(frame));
		ok = ok && (s->done.slot[i] = malloc(frame));
	}
	return ok ? EXIT_OK : cli_fail(EXIT_MEMORY, "out of memory for the frames of %dx%d", s->w, s->h);
}

static void release(struct cli_stream *s) {
	free(s->raw);
	free(s->full);
	free(s->resize_scratch);
	free(s->encoded);
	free(s->yuv_scratch);
	free(s->prev_in);
	free(s->prev_out);
	free(s->steady_scratch);
	for (int i = 0; i < SLOTS; i++) {
		free(s->ready.slot[i]);
		free(s->done.slot[i]);
	}
}

int cli_stream_run(struct cli_stream *s, cli_stylize_fn fn, void *ctx) {
	int rc = allocate(s);
	if (rc != EXIT_OK) {
		release(s);
		return rc;
	}
	/* a closed pipe is an EPIPE, reported, not a silent death: SIGPIPE is ignored (cli_standard_fds) */
	if (!s->o.quiet) {
		char rate[32] = "";
		if (s->header.rate_num > 0)
			snprintf(rate, sizeof rate, ", %g frames/s", (double)s->header.rate_num / s->header.rate_den);
		fprintf(stderr, "nst: stream %s %dx%d%s%s%s%s -> %s %dx%d to %s; steady %g; %s\n", format_name(s->in_format),
		        s->frame_w, s->frame_h, s->in_format == CLI_FRAMES_Y4M ? " " : "",
		        s->in_format == CLI_FRAMES_Y4M ? nst_chroma_name(s->header.chroma) : "",
		        s->header.range == NST_RANGE_FULL ? " full range" : "", rate,
		        format_name(s->out_format), s->w, s->h, output_name(s), (double)s->o.steady,
		        s->o.no_pipeline ? "read, stylized and written in turn" : "pipelined");
	}
	if (s->out_format == CLI_FRAMES_Y4M) {
		struct nst_y4m_header h = s->header;
		char line[NST_Y4M_MAX_LINE];
		h.width = s->w;
		h.height = s->h;
		if (h.rate_num <= 0) {
			h.rate_num = DEFAULT_RATE;
			h.rate_den = 1;
		}
		const int n = nst_y4m_format_header(&h, line, sizeof line);
		if (!cli_write_all(s->out_fd, line, (size_t)n)) {
			rc = cli_fail(EXIT_FAILURE_RUN, "cannot write to %s: %s", output_name(s),
			              errno == EPIPE ? "broken pipe" : strerror(errno));
			release(s);
			return rc;
		}
	}
	pthread_mutex_init(&s->m, NULL);
	pthread_cond_init(&s->cv, NULL);
	struct progress p = {nst_seconds(), 0.0, isatty(STDERR_FILENO) == 1};
	p.last = p.start;
	rc = s->o.no_pipeline ? run_in_turn(s, fn, ctx, &p) : run_pipeline(s, fn, ctx, &p);
	pthread_cond_destroy(&s->cv);
	pthread_mutex_destroy(&s->m);
	if (s->written_count > 0 || rc == EXIT_OK)
		progress(s, &p, s->written_count, true);
	if (rc == EXIT_OK && s->write_code)
		rc = cli_fail(s->write_code, "%s", s->write_msg);
	else if (rc == EXIT_OK && s->read_code)
		rc = cli_fail(s->read_code, "%s: wrote the %lld complete frame%s", s->read_msg, s->written_count,
		              s->written_count == 1 ? "" : "s");
	else if (rc == EXIT_OK && cli_stop_signal())
		rc = cli_fail(EXIT_INTERRUPTED, "interrupted (%s): wrote %lld frame%s",
		              cli_signal_name(cli_stop_signal()),
		              s->written_count, s->written_count == 1 ? "" : "s");
	if (rc == EXIT_OK && s->out_owned && close(s->out_fd) != 0)
		rc = cli_fail(EXIT_FAILURE_RUN, "cannot write %s: %s", s->o.output, strerror(errno));
	if (s->out_owned)
		s->out_fd = -1;
	release(s);
	return rc;
}
