/*
 * The one-call API (nst_stylize) in a short program: a photo and a painting in, a picture out.
 *
 *   cc stylize.c $(pkg-config --cflags --libs nst) -o stylize
 *   ./stylize optimize  /usr/local/share/nst/vgg19.nstw            photo.jpg painting.jpg out.png 128 20
 *   ./stylize trained   /usr/local/share/nst/styles/candy.nstw     photo.jpg -            out.png
 *   ./stylize arbitrary /usr/local/share/nst/styles/arbitrary.nstw photo.jpg painting.jpg out.png 256
 *
 * Arguments after OUT: the size (long side; 0: the default) and the optimization's iterations.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <nst.h>

/* Prints the optimization's progress every 10 rows; returning false would stop the run. */
static bool progress(void *user, const struct nst_stylize_progress *p) {
	const char *what = user;
	if (p->iteration % 10 == 0)
		fprintf(stderr, "%s: scale %d/%d, iteration %d/%d (loss row %d), loss %.4g, %.1f s\n", what, p->scale + 1,
		        p->n_scales, p->step, p->iterations, p->iteration, p->loss, p->seconds);
	return true;
}

int main(int argc, char **argv) {
	if (argc < 6) {
		fprintf(stderr, "usage: %s optimize|trained|arbitrary WEIGHTS.nstw PHOTO PAINTING|- OUT [SIZE [ITERATIONS]]\n",
		        argv[0]);
		return 2;
	}
	struct nst_stylize_options o;
	nst_stylize_options_default(&o);
	o.mode = !strcmp(argv[1], "trained") ? NST_MODE_TRAINED : !strcmp(argv[1], "arbitrary") ? NST_MODE_ARBITRARY
	                                                                                       : NST_MODE_OPTIMIZE;
	o.weights = argv[2];
	o.size = argc > 6 ? atoi(argv[6]) : 0;
	o.iterations = argc > 7 ? atoi(argv[7]) : 0;
	o.progress = progress;
	o.user = argv[0];

	struct nst_diag diag = {{0}};
	struct nst_image photo = {0}, painting = {0}, out = {0};
	enum nst_status st = nst_image_load(argv[3], &photo, &diag);
	if (st == NST_OK && o.mode != NST_MODE_TRAINED)
		st = nst_image_load(argv[4], &painting, &diag);
	if (st == NST_OK)
		st = nst_stylize(&o, &photo, o.mode == NST_MODE_TRAINED ? NULL : &painting, &out, &diag);
	if (st == NST_OK)
		st = nst_image_save(argv[5], &out, 90, &diag);
	if (st != NST_OK)
		fprintf(stderr, "%s: %s: %s\n", argv[0], nst_status_string(st), diag.message);
	else
		printf("%s: wrote %s (%dx%d)\n", argv[0], argv[5], out.width, out.height);
	nst_image_free(&photo);
	nst_image_free(&painting);
	nst_image_free(&out);
	return st == NST_OK ? 0 : 1;
}
