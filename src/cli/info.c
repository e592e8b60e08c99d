/*
 * nst info: this machine and the networks nst finds, and where.
 * nst info WEIGHTS.nstw | MODEL: what a weights file holds (format, layers, parameters, the network's
 * default loss), and the one-line description of a network's loss that the optimization's header
 * prints too.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"
#include "nst.h"

void cli_print_network(FILE *f, const char *prefix, const struct nst_weights *w, const struct nst_options *o) {
	fprintf(f, "%snetwork %s; content ", prefix, nst_weights_model(w));
	for (int i = 0; i < o->n_content_layers; i++)
		fprintf(f, "%s%s", i ? "," : "", o->content_layers[i]);
	fprintf(f, "%s (weight %g); style ", o->n_content_layers ? "" : "none", (double)o->content_weight);
	bool weighted = false;
	for (int i = 0; i < o->n_style_layers; i++) {
		fprintf(f, "%s%s", i ? "," : "", o->style_layers[i]);
		weighted = weighted || o->style_layer_weights[i] != 1.0f;
	}
	fprintf(f, "%s (weight %g", o->n_style_layers ? "" : "none", (double)o->style_weight);
	for (int i = 0; weighted && i < o->n_style_layers; i++)
		fprintf(f, "%s%g", i ? "," : ", per layer ", (double)o->style_layer_weights[i]);
	fprintf(f, "); tv %g", (double)o->tv_weight);
}

#define INFO_USAGE                                                                                             \
	"usage: nst info [WEIGHTS.nstw | MODEL]\n"                                                                  \
	"  nst info              this machine (CPU features, kernels, threads) and the networks nst finds, where\n"  \
	"  nst info FILE.nstw    what a weights file holds\n"                                                       \
	"  nst info MODEL        the same for a network found by name (candy, arbitrary, vgg19, ...)\n"            \
	"  -h, --help            this text\n"

static int is_network(const struct dirent *e) {
	const size_t len = strlen(e->d_name), ext = strlen(CLI_MODEL_EXTENSION);
	return len > ext && !strcmp(e->d_name + len - ext, CLI_MODEL_EXTENSION);
}

/* The networks (.nstw files) of one folder, sorted, on one line after its name. */
static void list_folder(const char *dir) {
	struct dirent **names;
	const int n = scandir(dir, &names, is_network, alphasort);
	printf("  %s:%s", dir, n < 0 ? " (no such folder)" : n == 0 ? " (none)" : "");
	for (int i = 0; i < n; i++) {
		printf(" %.*s", (int)(strlen(names[i]->d_name) - strlen(CLI_MODEL_EXTENSION)), names[i]->d_name);
		free(names[i]);
	}
	if (n >= 0)
		free(names);
	printf("\n");
}

/* nst info: the machine and where the networks are. */
static int info_machine(void) {
	cli_print_version(stdout);
	char dirs[CLI_MAX_DATA_DIRS][CLI_PATH_BYTES], buf[CLI_PATH_BYTES];
	const char *env = getenv("NST_WEIGHTS");
	const char *weights = cli_default_weights(buf, sizeof buf);
	printf("\noptimization weights (%s", env && *env ? "$NST_WEIGHTS, then " : "");
	for (int i = 0; i < CLI_WEIGHTS_FILES; i++)
		printf("%s%s", i ? " then " : "", cli_weights_files[i]);
	printf(" in these folders): %s\n", weights ? weights : "NONE FOUND (make weights, --weights, NST_WEIGHTS)");
	int n = cli_data_dirs(false, dirs);
	for (int i = 0; i < n; i++)
		list_folder(dirs[i]);
	printf("one-pass networks (nst --model NAME; %sthe first folder holding NAME.nstw wins):\n",
	       getenv("NST_STYLES") && *getenv("NST_STYLES") ? "$NST_STYLES first, " : "");
	n = cli_data_dirs(true, dirs);
	for (int i = 0; i < n; i++)
		list_folder(dirs[i]);
	return EXIT_OK;
}

/* A file, else a network by name (find.c: the one-pass networks' folders, then the optimization's). */
static const char *resolve(const char *arg, char *buf, size_t size) {
	if (access(arg, F_OK) == 0 || strchr(arg, '/'))
		return arg;
	const char *path = cli_find_network(arg, buf, size);
	return path ? path : arg;
}

int cli_info(int argc, char **argv) {
	if (argc == 2 && (!strcmp(argv[1], "-h") || !strcmp(argv[1], "--help"))) {
		printf(INFO_USAGE);
		return EXIT_OK;
	}
	if (argc == 1)
		return info_machine();
	if (argc != 2 || (argv[1][0] == '-' && argv[1][1])) {
		fprintf(stderr, INFO_USAGE);
		return EXIT_USAGE;
	}
	char buf[CLI_PATH_BYTES];
	const char *path = resolve(argv[1], buf, sizeof buf);
	struct nst_diag diag = {{0}};
	struct nst_weights *w;
	const enum nst_status st = nst_weights_open(path, &w, &diag);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, path);
	printf("file:     %s (%llu bytes)\n", path, (unsigned long long)nst_weights_file_bytes(w));
	printf("format:   nstw version %u, checksum %08x (verified)\n", nst_weights_version(w), nst_weights_checksum(w));
	const enum nst_arch arch = nst_weights_arch(w);
	printf("model:    %s (%s), kernels stored as %s\n", nst_weights_model(w),
	       arch == NST_ARCH_VGG         ? "VGG: the optimization's loss network"
	       : arch == NST_ARCH_ARBITRARY ? "arbitrary-style one-pass network: any painting, nst --model arbitrary -s"
	                                    : "trained one-pass network: nst --model",
	       nst_weights_dtype(w) == NST_DTYPE_F16 ? "float16" : "float32");
	printf("layers:   %d\n", nst_weights_layer_count(w));
	int width = 0; /* of the names column */
	for (int i = 0; i < nst_weights_layer_count(w); i++) {
		struct nst_layer_info L;
		nst_weights_layer(w, i, &L);
		width = (int)strlen(L.name) > width ? (int)strlen(L.name) : width;
	}
	double params = 0;
	for (int i = 0; i < nst_weights_layer_count(w); i++) {
		struct nst_layer_info L;
		nst_weights_layer(w, i, &L);
		const double p = (double)L.kernel_h * L.kernel_w * (L.in_channels / L.groups) * L.out_channels + L.out_channels;
		params += p;
		char groups[32] = "", tap[5 * NST_LAYER_NAME_BYTES + 96] = "";
		if (L.groups > 1)
			snprintf(groups, sizeof groups, "  %d groups", L.groups);
		if (L.tap) /* tapB_I gives reluB_I its meaning: VGG19's features there, from the trunk's conv */
			snprintf(tap, sizeof tap, "  tap of %s: relu%s = ReLU(%s(ReLU(%s))), VGG19's %d channels", L.tap_of,
			         strncmp(L.name, "tap", 3) ? L.name : L.name + 3, L.name, L.tap_of, L.out_channels);
		printf("  %-*s %dx%d  %4d -> %-4d  stride %d%s%s%s%s\n", width, L.name, L.kernel_h, L.kernel_w, L.in_channels,
		       L.out_channels, L.stride, groups, L.has_norm ? "  instance-norm" : "",
		       L.tap ? "" : L.kernel_h > 1 ? (L.reflect ? "  reflection padding" : "  zero padding") : "", tap);
	}
	printf("parameters: %.0f\n", params);
	if (nst_weights_arch(w) == NST_ARCH_VGG) {
		struct nst_options o;
		nst_options_default(&o);
		nst_options_network_defaults(&o, w, 0);
		cli_print_network(stdout, "defaults: ", w, &o);
		printf("\n");
	}
	nst_weights_close(w);
	return EXIT_OK;
}
