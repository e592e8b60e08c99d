/* Entry points of the command line's modes (src/cli/). */
#ifndef NST_CLI_H
#define NST_CLI_H

#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

#include "nst.h"

/* Bytes of a path, with its terminating zero. */
#define CLI_PATH_BYTES PATH_MAX
#define CLI_MAX_BLEND 1e30 /* a --style-blend weight */
#define CLI_ARBITRARY_MODEL "arbitrary" /* the arbitrary-style network's name (styles/arbitrary.nstw) */

/* Exit codes (README: "Errors and exit codes"). */
enum exit_code {
	EXIT_OK = 0,
	EXIT_FAILURE_RUN = 1,   /* a file could not be read or written, bad picture or weights */
	EXIT_USAGE = 2,         /* the command line is wrong */
	EXIT_MEMORY = 3,        /* the run does not fit --max-memory, or memory could not be had */
	EXIT_NUMERIC = 4,       /* the loss became NaN or infinite (lower --lr) */
	EXIT_INTERRUPTED = 130, /* SIGINT / SIGTERM / SIGHUP: the current picture was written */
};

/* The commands (each in its file; main.c dispatches): each takes its command line (argv[0] the
 * program, or the command's name) and returns the process's exit code. */
int cli_optimize(int argc, char **argv); /* nst -c CONTENT -s STYLE -o OUT (src/cli/optimize.c) */
int cli_fast(int argc, char **argv);     /* nst --model NAME|FILE.nstw -c PHOTO -o OUT (src/cli/fast.c) */
int cli_info(int argc, char **argv);     /* nst info WEIGHTS.nstw (src/cli/info.c) */
int cli_bench(int argc, char **argv);    /* nst bench ... (src/cli/bench.c) */

/* How the commands end (src/cli/errors.c). */
/* "nst: MESSAGE" on stderr, one line; returns code. */
int cli_fail(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The exit code for a library status. */
int cli_exit_code(enum nst_status st);
/* The diag's message (or what: the status's name) through cli_fail, with the status's exit code. */
int cli_fail_status(enum nst_status st, const struct nst_diag *diag, const char *what);
/* After a command: standard output flushed and closed without error, else a one-line error (exit 1). */
int cli_finish_stdout(int rc);

/* Argument parsing (src/cli/args.c). */
/* Strict number parsing: the whole argument, finite, within [lo, hi]. */
bool cli_parse_int(const char *s, long lo, long hi, int *out);
bool cli_parse_float(const char *s, double lo, double hi, double *out);
/* A seed: decimal digits only (no sign, no spaces), within uint64_t. */
bool cli_parse_seed(const char *s, uint64_t *out);
/* "512M", "2G", "300MiB", "1000000" -> bytes; false for anything else and below 1 MiB (no run fits
 * in less, and 0.5 would otherwise mean 0 bytes). */
bool cli_parse_bytes(const char *s, size_t *out);
/* "128,256,512" -> at most max whole numbers in lo..hi; returns the count, or -1. */
int cli_parse_int_list(const char *arg, int *out, int max, long lo, long hi);
/* "3,1,0.5" -> at most max numbers in lo..hi; returns the count, or -1. */
int cli_parse_float_list(const char *arg, float *out, int max, double lo, double hi);
/* Splits list in place at its commas into out [max] (empty items skipped): returns how many items
 * there are (the first max stored). */
int cli_split_list(char *list, char **out, int max);
/* Standard input can be read once: a second "-" among the pictures (-c's one picture or NULL, -s's
 * paintings, --init's picture or NULL) is refused, naming the two options. */
int cli_stdin_once(const char *content, char *const *styles, int n_styles, const char *init);
/* Refuses neural-style's single-dash long options (-content_image, -num_iterations, ...) and any
 * other single-dash word that getopt would read as a cluster of short options (-content = -c
 * ontent), naming the nst option instead; shortopts / longopts as for getopt_long. Returns
 * EXIT_OK or EXIT_USAGE (with the message printed). */
struct option;
int cli_check_spelling(int argc, char **argv, const char *shortopts, const struct option *longopts, const char *help);
/* The message for an option getopt does not know: neural-style's names get the nst option. */
int cli_unknown_option(const char *arg, const char *help);
/* The threads to use: requested (0: every usable CPU) at most the usable CPUs, with a one-line
 * notice when it is clamped (unless quiet). */
int cli_threads(int requested, bool quiet);

/* What the command line measures of itself (src/cli/measure.c). */
double cli_mib(size_t bytes);
size_t cli_rss_now(void);  /* resident set size now (/proc; 0 where there is none) */
size_t cli_rss_peak(void); /* and at its peak (getrusage) */
/* The median of v [n] (n >= 1), sorting v ascending in place. */
double cli_median(double *v, int n);

/* Where the networks are found (src/cli/find.c). */
#ifndef NST_DATADIR
#define NST_DATADIR "/usr/local/share/nst"
#endif
#define CLI_STYLES_DIR "styles"
#define CLI_MODEL_EXTENSION ".nstw"
/* The default weights files, in order of preference. */
#define CLI_WEIGHTS_FILES 2
extern const char *const cli_weights_files[CLI_WEIGHTS_FILES];
/* Where the networks are looked for, in order: dirs [CLI_MAX_DATA_DIRS]; returns how many.  The
 * optimization's weights (styles false): beside the binary, ../share/nst from it, NST_DATADIR; the
 * one-pass networks (styles true): $NST_STYLES, styles/ beside the binary, ../share/nst/styles from
 * it, NST_DATADIR/styles (python/nst.py's _data_dirs: the same). */
#define CLI_MAX_DATA_DIRS 4
int cli_data_dirs(bool styles, char (*dirs)[CLI_PATH_BYTES]);
/* The default weights file: $NST_WEIGHTS, else the first of cli_weights_files in those folders. */
const char *cli_default_weights(char *buf, size_t size);
/* A named feed-forward model's file ($NST_STYLES, beside the binary, ../share/nst, the install
 * prefix), or NULL; `looked` lists the directories searched. */
const char *cli_find_model(const char *name, char *buf, size_t size, char *looked, size_t looked_size);
/* Any network by name (nst info NAME): the one-pass networks' folders, then the optimization's;
 * NULL when none holds NAME.nstw. */
const char *cli_find_network(const char *name, char *buf, size_t size);

/* --init model:NAME (src/cli/onepass_init.c): out [H][W][3] = the one-pass network NAME (a trained
 * one, or arbitrary with the style pictures, blend NULL for equal) applied to content, in its own
 * arena, freed before returning.  EXIT_OK, or the code of the one-line message printed. */
int cli_onepass_init(const char *model, const struct nst_image *content, const struct nst_image *styles,
                     int n_styles, const float *blend, int threads, bool quiet, struct nst_image *out);

/* Signals (src/cli/signals.c).  SIGINT, SIGTERM and SIGHUP ask the run to stop: the first is
 * recorded (cli_stop_signal), the second ends the process at once, except inside a section where
 * they are blocked (writing a file), which ends first. */
void cli_signals_install(void);
int cli_stop_signal(void); /* the first stop signal received, or 0 */
/* A stop signal's name for messages: "SIGINT", "SIGTERM", "SIGHUP" (a closed terminal or SSH session). */
const char *cli_signal_name(int sig);
/* Blocks the stop signals in this thread (and in the threads it creates meanwhile: create thread
 * pools inside such a section, so that the signals always reach the main thread); *old: the mask
 * to restore. */
void cli_signals_block(sigset_t *old);
void cli_signals_restore(const sigset_t *old);
/* Standard input, output and error open (on /dev/null when closed), so that no file the run opens
 * becomes one of them (progress lines in the --log CSV with 2>&-); SIGPIPE ignored, so that a
 * reader that went away is a reported write error. */
void cli_standard_fds(void);

/* Outputs and inputs as files (src/cli/outputs.c): every output is checked before any work. */
enum cli_output_type {
	CLI_OUTPUT_PICTURE,    /* by its extension; written atomically, or in place to a FIFO / device */
	CLI_OUTPUT_DATA,       /* bytes (--log, --dump-grad, --raw): likewise */
	CLI_OUTPUT_CHECKPOINT, /* the library writes <name>.tmp-XXXXXX beside it: a regular file */
};
/* Which file a path names, when it exists. */
struct cli_id {
	bool exists;
	bool device; /* a character device (a terminal, /dev/null): several inputs and outputs may share it */
	dev_t dev;
	ino_t ino;
};
struct cli_file {
	const char *what;           /* the option, for messages ("-o", "--log", "the content picture") */
	const char *name;           /* as given */
	bool stdio;                 /* "-": standard input or output */
	bool stream;                /* an existing FIFO or character device, written in place */
	struct cli_id id;
	char path[CLI_PATH_BYTES];  /* where it is written: the name, or a symbolic link's final target */
	char real[CLI_PATH_BYTES];  /* its folder's real path and its name ("" if unknown): equal for one file */
};
/* Whether a name ends in an extension nst writes pictures as (.png, .jpg, .jpeg, .bmp, .tga). */
bool cli_names_picture(const char *path);
/* Checks an output: name within PATH_MAX, a known picture extension, not a folder, its folder
 * existing and writable, its name within NAME_MAX with `reserve` more bytes (what the writer
 * appends).  Fills *f; returns EXIT_OK, EXIT_USAGE or EXIT_FAILURE_RUN with the message printed. */
int cli_output_check(struct cli_file *f, const char *what, const char *name, enum cli_output_type type,
                     size_t reserve);
/* An input's identity (no checks: reading it reports its errors). */
void cli_input_identify(struct cli_file *f, const char *what, const char *name);
/* Whether two files are one (device and inode, or the same real path for new files); devices
 * shared by inputs and outputs, such as a terminal, are not. */
bool cli_same_file(const struct cli_file *a, const struct cli_file *b);
bool cli_same_id(const struct cli_id *a, const struct cli_id *b);
/* EXIT_USAGE with a message when two outputs are one file or an output is an input. */
int cli_refuse_same(const struct cli_file *const *outputs, int n_outputs, const struct cli_file *const *inputs,
                    int n_inputs);
/* Writes a picture where f says: standard output, in place to a stream, else atomically. */
enum nst_status cli_save_picture(const struct cli_file *f, const struct nst_image *img, int quality,
                                 struct nst_diag *diag);
/* Writes bytes likewise (a temporary file renamed: never a partial file); EXIT_OK or 1 with the
 * message printed. */
int cli_write_data(const struct cli_file *f, const void *data, size_t bytes);
/* The same without a message: 0 or the errno. */
int cli_write_bytes(const struct cli_file *f, const void *data, size_t bytes);
/* Writes all bytes to fd (retrying after EINTR); false with errno set. */
bool cli_write_all(int fd, const void *data, size_t bytes);

/* What a checkpoint was made with (src/cli/resume.c): "key value" lines in CHECKPOINT.options. */
bool cli_run_options_path(const char *checkpoint, char *buf, size_t size);
/* Writes text beside the checkpoint (atomically); 0 or the errno. */
int cli_write_run_options(const char *checkpoint, const char *text);
/* Compares the checkpoint's description with this run's (text): EXIT_OK when they agree or the
 * checkpoint has none, else EXIT_USAGE with a message naming each option that differs.  The
 * thread count only changes the sums' rounding: when it differs, *checkpoint_threads is the
 * checkpoint's (else 0), not a refusal. */
int cli_check_run_options(const char *checkpoint, const char *text, int *checkpoint_threads);
/* The command that made a checkpoint, recorded in its description as two comment lines: the
 * working folder and the arguments argv[1..argc) but --resume and its value, each quoted
 * for a POSIX shell; appended to buf at *used, at most RECORD_BYTES (resume.c), else one line
 * saying why it is not recorded (too long, a newline in an argument). */
void cli_record_command(int argc, char **argv, char *buf, size_t size, size_t *used);
/* `nst --resume CHECKPOINT` without -c: the recorded command again, run from its folder, with
 * --threads, --print-every, --checkpoint-every or -q given now after it (they win; any other
 * option is refused: a file named now would be looked for in the recorded folder) and --resume
 * naming the checkpoint by its absolute path.  *recalled is set (argc, argv: free with
 * cli_recall_free) or left empty when argv is not such a command line; EXIT_OK, or the code of
 * the message printed (no recorded command, its folder gone). */
struct cli_recalled {
	int argc;
	char **argv;        /* into words */
	int recorded_argc;  /* argv[0] and the recorded words: the command to record again */
	char *words;        /* the arguments, each NUL-terminated */
	char folder[CLI_PATH_BYTES]; /* where it runs (the working folder now) */
};
int cli_recall_command(int argc, char **argv, struct cli_recalled *recalled);
void cli_recall_free(struct cli_recalled *recalled);
/* word quoted for a POSIX shell where it needs it (into buf; word itself if buf is too small). */
const char *cli_quote(const char *word, char *buf, size_t size);
/* argv[1..] as a POSIX shell command line (each word quoted where it needs), after "nst", to f. */
void cli_print_command(FILE *f, int argc, char **argv);

/* Frame streams through the one-pass networks (src/cli/stream.c): YUV4MPEG2, raw RGB24 or raw
 * I420 frames in; YUV4MPEG2, raw frames or a PNG sequence out; read, stylized and written in a
 * pipeline; steadied from frame to frame. */
enum cli_frames {
	CLI_FRAMES_AUTO = 0, /* in: YUV4MPEG2 if the stream starts so; out: as the input (Y4M for I420) */
	CLI_FRAMES_Y4M,
	CLI_FRAMES_RGB24,
	CLI_FRAMES_YUV420P,  /* raw I420 planes (rpicam-vid --codec yuv420) */
	CLI_FRAMES_PNG,      /* out: DIR/frame_000001.png ... */
};
#define CLI_STEADY_DEFAULT 0.7f /* --steady: on for streams */
#define CLI_STREAM_LOG_SECONDS 5.0 /* the progress line's period when stderr is not a terminal */
struct cli_stream_options {
	const char *input, *output;     /* -c and -o: "-", a file or FIFO; -o may be a directory */
	int input_fd;                   /* -c already open (a named FIFO cli_stream_detect looked at), or -1 */
	enum cli_frames input_format, output_format;
	int frame_width, frame_height;  /* --frame-size (raw frames); 0: none */
	int rate_num, rate_den;         /* --frame-rate; 0: the input's (else 25) */
	int size;                       /* --size: the frames' long side; 0: as they are */
	float steady;                   /* --steady S, 0..1 */
	bool no_pipeline;               /* --no-pipeline: read, stylize and write in turn */
	bool quiet;
};
/* Said when a named FIFO on -c stays silent for NST_FIFO_WAIT_MS. */
#define CLI_FIFO_IDLE_MESSAGE "nothing came through this FIFO in 10 s (does a program write to it?)"
_Static_assert(NST_FIFO_WAIT_MS == 10000, "CLI_FIFO_IDLE_MESSAGE names the wait");
/* What -c is (cli_stream_detect). */
enum cli_input_kind {
	CLI_INPUT_PICTURE,  /* a picture, or an error the picture's reader reports */
	CLI_INPUT_STREAM,   /* frames */
	CLI_INPUT_FIFO_IDLE /* a named FIFO nothing came through in 10 s: reported, nothing else to do */
};
/* Whether -c o->input is a frame stream: an input or frame-size option says so, or it starts with
 * "YUV4MPEG2 " (looked at without taking it from a pipe).  A named FIFO is opened for that and kept
 * open (its writer would otherwise lose its reader): *keep_fd is that descriptor, for
 * cli_stream_open (input_fd) or to close after the picture is read; else -1.  A FIFO that stays
 * silent for 10 s is said here once (CLI_INPUT_FIFO_IDLE), not waited on again as a picture. */
enum cli_input_kind cli_stream_detect(const struct cli_stream_options *o, int *keep_fd);
/* Opens a named input for reading (src/cli/stream_detect.c); a FIFO must give its first byte
 * within NST_FIFO_WAIT_MS (else -1 with errno ETIMEDOUT), as for pictures. */
int cli_stream_open_input(const char *path);
struct cli_stream;
/* Opens the input and reads its header: *width x *height, the frames' size as they run (after
 * --size).  EXIT_OK or the code of the one-line message printed. */
int cli_stream_open(const struct cli_stream_options *o, struct cli_stream **out, int *width, int *height);
/* One frame through the network: in and out [height][width][3]. */
typedef enum nst_status (*cli_stylize_fn)(void *ctx, int width, int height, const uint8_t *in, uint8_t *out);
/* Every frame through fn until the input ends; the process's exit code (messages printed). */
int cli_stream_run(struct cli_stream *s, cli_stylize_fn fn, void *ctx);
void cli_stream_close(struct cli_stream *s);

/* content | styles | result side by side at the result's height (src/cli/sheet.c). */
enum nst_status cli_write_sheet(const struct cli_file *f, const struct nst_image *content,
                                const struct nst_image *styles, int n_styles, const struct nst_image *result,
                                int quality, struct nst_diag *diag);

/* nst --version's lines: version, commit, kernels, XNNPACK, fp16 (src/cli/version.c). */
void cli_print_version(FILE *f);

/* The description of a network's loss: "PREFIXnetwork NAME; content L (weight X); style L,...
 * (weight X[, per layer w,...]); tv X" (src/cli/info.c). */
void cli_print_network(FILE *f, const char *prefix, const struct nst_weights *w, const struct nst_options *o);

#endif /* NST_CLI_H */
