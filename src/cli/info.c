/*
 * nst info WEIGHTS.nstw: what a weights file holds (format, layers, parameters, the network's
 * default loss), and the one-line description of a network's loss that the optimization's header
 * prints too.
 */
#include <stdio.h>
#include <string.h>

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

int cli_info(int argc, char **argv) {
	if (argc != 2) {
		fprintf(stderr, "usage: nst info WEIGHTS.nstw\n");
		return EXIT_USAGE;
	}
	struct nst_diag diag = {{0}};
	struct nst_weights *w;
	const enum nst_status st = nst_weights_open(argv[1], &w, &diag);
	if (st != NST_OK)
		return cli_fail_status(st, &diag, argv[1]);
	printf("file:     %s (%llu bytes)\n", argv[1], (unsigned long long)nst_weights_file_bytes(w));
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
		char groups[32] = "";
		if (L.groups > 1)
			snprintf(groups, sizeof groups, "  %d groups", L.groups);
		printf("  %-*s %dx%d  %4d -> %-4d  stride %d%s%s%s%s%s\n", width, L.name, L.kernel_h, L.kernel_w, L.in_channels,
		       L.out_channels, L.stride, groups, L.has_norm ? "  instance-norm" : "",
		       L.tap ? "  tap of " : L.kernel_h > 1 ? (L.reflect ? "  reflection padding" : "  zero padding") : "",
		       L.tap_of, L.tap ? " (what its reluB_I means)" : "");
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
