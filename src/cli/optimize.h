/* The optimization command (nst -c CONTENT -s STYLE -o OUT): its command line, parsed by
 * src/cli/optimize_args.c and run by src/cli/optimize.c. */
#ifndef NST_CLI_OPTIMIZE_H
#define NST_CLI_OPTIMIZE_H

#include "cli.h"
#include "nst.h"

#define DEFAULT_SIZE 256
#define DEFAULT_ITERATIONS 300
#define DEFAULT_PRINT_EVERY 10
#define MAX_SIZE 16384
#define MAX_ITERATIONS 1000000
#define MAX_TILE_SWEEPS 64
/* What nst_session_save_checkpoint appends to the checkpoint's name for its temporary file. */
#define CHECKPOINT_SUFFIX_BYTES (sizeof ".tmp-XXXXXX" - 1)
/* the options, paths among them, and the recorded folder and command (those left out if longer) */
#define DESCRIPTION_BYTES ((NST_MAX_STYLES + 4 + 8) * CLI_PATH_BYTES)
/* parse_args: --help or --version is printed, nothing more to do. */
#define PARSED_DONE (-1)

struct cli {
	const char *content, *output, *weights, *log_path, *sheet, *dump_grad, *init_path;
	const char *init_model;  /* --init model:NAME (then init_path is NULL) */
	const char *checkpoint, *resume;
	int scales[NST_MAX_SCALES], n_scales;
	int scale_iterations[NST_MAX_SCALES], n_scale_iterations;
	char checkpoint_buf[CLI_PATH_BYTES];
	bool checkpoint_given;   /* --checkpoint, not the default OUT.ckpt */
	/* The outputs, checked before any work (check_files): where each is written. */
	struct cli_file out, log_file, sheet_file, grad_file, checkpoint_file;
	/* What decides the result, as "option value" lines: written beside checkpoints, compared on
	 * --resume (describe_run; empty for runs that cannot be resumed). */
	char description[DESCRIPTION_BYTES];
	int checkpoint_every;
	char *styles[NST_MAX_STYLES];
	int n_styles;
	float blend[NST_MAX_STYLES];
	bool blend_given;
	unsigned given; /* enum nst_given: the loss options the command line set (else the network's) */
	int size;
	double style_scale;
	int iterations;
	int save_every, print_every;
	bool quiet;
	int jpeg_quality;
	size_t max_memory;
	int tile, tile_overlap, tile_sweeps; /* --tile, --tile-overlap, --tile-sweeps (0: default) */
	struct nst_options options;
	char **argv;      /* the command line: argv[0 .. record_argc) recorded beside checkpoints */
	int record_argc;  /* (cli_record_command); after a recall, the recorded words only */
	const char *recalled_folder; /* `nst --resume CHECKPOINT` alone: where the command runs, else NULL */
};

/* The defaults, then the command line into c: EXIT_OK, PARSED_DONE (--help or --version printed)
 * or EXIT_USAGE with the message printed. */
int optimize_parse_args(struct cli *c, int argc, char **argv);

#endif
