/*
 * Checkpoints: the run state and every optimizer buffer, so that a resumed run continues
 * exactly (Adam bit for bit; L-BFGS with its history).  The targets are recomputed from the same
 * pictures and options, which a fingerprint in the header checks.
 *
 * File (version 3): the header below, the arrays of checkpoint_arrays in order, then the CRC-32
 * (nst_crc32, little-endian) of every byte before it.  A load checks, in this order: the magic,
 * the version, the size this session's checkpoints have, the CRC over the whole file (so one
 * flipped bit anywhere is "corrupted", never a different run), the place in a coarse-to-fine run,
 * then the options and pictures (the fingerprint: "other pictures or options"), then every field
 * against its bounds and the others (a file with a right CRC and wrong fields was crafted or
 * written by a broken build).  Version 2 (nst 0.2) is version 3 without the place at the end of
 * its header: a run of one scale, still read.
 * The optimizer's part goes through its interface (src/optimizer.h): the arrays it lists, the
 * scalars of its record, its own checks.
 */
#include <errno.h>
#include <math.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "checkpoint.h"
#include "session.h"

#define CHECKPOINT_VERSION 3u
#define CHECKPOINT_VERSION_ONE_SCALE 2u /* the header up to reserved2: scale 0 of 1 */
#define CHECKPOINT_READ_BYTES (16u * 1024u) /* the CRC of a file read before any session holds it */

struct checkpoint_header {
	char magic[4];
	uint32_t version;
	uint32_t width, height, optimizer, history;
	uint32_t row, pending, loop_done, done;
	int32_t good_row, adam_step;
	int32_t n_iter, evals, n_old, oldest;
	uint32_t config_crc;       /* options, picture sizes, content picture, style targets */
	uint32_t reserved;         /* 0 */
	double h_diag, t, seconds;
	double last[4];            /* total, content, style, tv of the last row */
	double f;                  /* L-BFGS: the loss at x, where a line search starts */
	double tol_f;              /* --tolerance: the loss at the start of the current window */
	int32_t tol_iteration;     /* ... and that window's first iteration */
	uint32_t converged;        /* the run ended early on the tolerance */
	double search_gtd;         /* searching: the slope along d at the search's start */
	uint32_t searching;        /* taken inside a line search: resume starts it again (row, evals, t,
	                            * x and grad are the search's start) */
	uint32_t reserved2;        /* 0 */
	/* Version 3: the session's place in a coarse-to-fine run. */
	struct nst_checkpoint_place_record place;
};
_Static_assert(sizeof(struct checkpoint_header) == 224, "the checkpoint header has no padding");
#define HEADER_ONE_SCALE_BYTES offsetof(struct checkpoint_header, place)
_Static_assert(HEADER_ONE_SCALE_BYTES == 168, "version 2's header is version 3's without the place");

static size_t header_bytes(uint32_t version) {
	return version == CHECKPOINT_VERSION_ONE_SCALE ? HEADER_ONE_SCALE_BYTES : sizeof(struct checkpoint_header);
}

/* The arrays of a checkpoint, in file order: the run's picture, its gradient and the last good
 * picture (an optimizer may save others in their place), then the optimizer's. */
static int checkpoint_arrays(const struct nst_session *s, bool saving, struct nst_state_array *out) {
	const size_t nb = s->n * sizeof(float);
	out[0] = (struct nst_state_array){s->x, nb};
	out[1] = (struct nst_state_array){s->grad, nb};
	out[2] = (struct nst_state_array){s->x_good, nb};
	return s->optimizer.ops->arrays(&s->optimizer, saving, out, 3);
}

/* Bytes of this session's checkpoint file of a version: header, arrays, CRC. */
static size_t checkpoint_bytes(const struct nst_session *s, uint32_t version) {
	struct nst_state_array arrays[NST_STATE_MAX_ARRAYS];
	const int n_arrays = checkpoint_arrays(s, false, arrays);
	size_t bytes = header_bytes(version) + NST_CHECKPOINT_CRC_BYTES;
	for (int i = 0; i < n_arrays; i++)
		bytes += arrays[i].bytes;
	return bytes;
}

static uint32_t crc_value(uint32_t crc, const void *p, size_t n) { return nst_crc32(crc, p, n); }

/* What a checkpoint's header says differently from this session (its picture size, optimizer and
 * L-BFGS history: "a 128x85 picture, here 64x43"), into buf; false when they agree. */
static bool header_differs(const struct nst_session *s, const struct checkpoint_header *h, char *buf, size_t size) {
	size_t used = 0;
	buf[0] = '\0';
#define SAY(...) (used += used < size ? (size_t)snprintf(buf + used, size - used, __VA_ARGS__) : 0)
	if (h->width != (uint32_t)s->problem.width || h->height != (uint32_t)s->problem.height)
		SAY("a %ux%u picture, here %dx%d", h->width, h->height, s->problem.width, s->problem.height);
	if (h->optimizer != (uint32_t)s->options.optimizer)
		SAY("%s%s, here %s", used ? "; " : "", h->optimizer == NST_OPTIMIZER_ADAM ? "adam" : "lbfgs",
		    s->options.optimizer == NST_OPTIMIZER_ADAM ? "adam" : "lbfgs");
	else if (h->history != (uint32_t)s->options.history && s->options.optimizer == NST_OPTIMIZER_LBFGS)
		SAY("%shistory %u, here %d", used ? "; " : "", h->history, s->options.history);
#undef SAY
	return used > 0;
}

uint32_t nst_session_fingerprint(const struct nst_session *s, const uint8_t *content, size_t content_bytes) {
	const struct nst_options *o = &s->options;
	uint32_t c = 0;
	for (int i = 0; i < o->n_content_layers; i++)
		c = crc_value(c, o->content_layers[i], strlen(o->content_layers[i]) + 1);
	c = crc_value(c, "|", 1);
	for (int i = 0; i < o->n_style_layers; i++)
		c = crc_value(c, o->style_layers[i], strlen(o->style_layers[i]) + 1);
	const float weights[4] = {o->content_weight, o->style_weight, o->tv_weight, o->learning_rate};
	const int32_t ints[6] = {(int32_t)o->pooling, (int32_t)o->optimizer, o->history, (int32_t)o->init,
	                         s->problem.width, s->problem.height};
	const int32_t line_search = (int32_t)o->line_search;
	c = crc_value(c, weights, sizeof weights);
	c = crc_value(c, ints, sizeof ints);
	c = crc_value(c, &line_search, sizeof line_search);
	c = crc_value(c, &o->tolerance, sizeof o->tolerance);
	/* The precision the run computes in (fp32 checkpoints keep the fingerprint they always had). */
	if (s->plan.precision == NST_PRECISION_FP16)
		c = crc_value(c, "fp16", 4);
	c = crc_value(c, content, content_bytes);
	/* The style pictures themselves, not their Gram targets, whose float sums depend on how the
	 * work was split between threads: a run may resume with another --threads. */
	c = crc_value(c, &s->style_crc, sizeof s->style_crc);
	for (int i = 0; i < s->n_losses; i++)
		if (s->losses[i].style) {
			const size_t ch = (size_t)s->losses[i].c;
			c = crc_value(c, &ch, sizeof ch);
			c = crc_value(c, &s->losses[i].layer_weight, sizeof(float));
		}
	return c;
}

static uint32_t config_fingerprint(const struct nst_session *s) { return nst_session_fingerprint(s, s->content_rgb, s->n); }

enum nst_status nst_session_save_checkpoint(const struct nst_session *s, const char *path, struct nst_diag *diag) {
	const struct nst_checkpoint_place alone = {.n_scales = 1};
	return nst_session_save_checkpoint_at(s, path, &alone, diag);
}

enum nst_status nst_session_save_checkpoint_at(const struct nst_session *s, const char *path,
                                               const struct nst_checkpoint_place *place, struct nst_diag *diag) {
	if (!s || !path || !place || !s->prepared)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "no prepared session to checkpoint");
	const struct nst_run_state *r = &s->run;
	struct checkpoint_header h;
	memset(&h, 0, sizeof h);
	memcpy(h.magic, NST_CHECKPOINT_MAGIC, 4);
	h.version = CHECKPOINT_VERSION;
	h.width = (uint32_t)s->problem.width;
	h.height = (uint32_t)s->problem.height;
	h.optimizer = (uint32_t)s->options.optimizer;
	h.history = (uint32_t)s->options.history;
	h.row = (uint32_t)r->row;
	h.pending = r->pending;
	h.done = r->done;
	h.good_row = r->good_row;
	h.seconds = r->seconds;
	h.last[0] = r->last.total;
	h.last[1] = r->last.content;
	h.last[2] = r->last.style;
	h.last[3] = r->last.tv;
	h.tol_f = r->tol_f;
	h.tol_iteration = r->tol_iteration;
	h.converged = r->converged;
	struct nst_optim_record rec = {.row = (int32_t)r->row,
	                               .good_row = r->good_row,
	                               .tol_iteration = r->tol_iteration,
	                               .pending = r->pending,
	                               .done = r->done};
	s->optimizer.ops->save(&s->optimizer, &rec);
	h.row = (uint32_t)rec.row;
	h.good_row = rec.good_row;
	h.adam_step = rec.adam_step;
	h.n_iter = rec.n_iter;
	h.evals = rec.evals;
	h.n_old = rec.n_old;
	h.oldest = rec.oldest;
	h.h_diag = rec.h_diag;
	h.t = rec.t;
	h.f = rec.f;
	h.loop_done = rec.loop_done;
	h.search_gtd = rec.search_gtd;
	h.searching = rec.searching;
	h.config_crc = config_fingerprint(s);
	nst_checkpoint_place_write(place, &h.place);
	struct nst_state_array parts[1 + NST_STATE_MAX_ARRAYS] = {{&h, sizeof h}};
	const int n_arrays = checkpoint_arrays(s, true, parts + 1);
	return nst_checkpoint_write(path, parts, 1 + n_arrays, diag);
}

enum nst_status nst_checkpoint_write(const char *path, const struct nst_state_array *parts, int n_parts,
                                     struct nst_diag *diag) {
	uint32_t crc = 0;
	for (int i = 0; i < n_parts; i++)
		crc = crc_value(crc, parts[i].data, parts[i].bytes);
	const uint8_t trailer[NST_CHECKPOINT_CRC_BYTES] = {(uint8_t)crc, (uint8_t)(crc >> 8), (uint8_t)(crc >> 16),
	                                                   (uint8_t)(crc >> 24)};
	char tmp[4096];
	if ((size_t)snprintf(tmp, sizeof tmp, "%s.tmp-XXXXXX", path) >= sizeof tmp)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "checkpoint path too long");
	const int fd = mkstemp(tmp);
	if (fd < 0)
		return nst_fail(diag, NST_ERR_IO, "cannot write checkpoint %s: %s", path, strerror(errno));
	FILE *f = fdopen(fd, "wb");
	bool ok = f != NULL;
	for (int i = 0; ok && i < n_parts; i++)
		ok = fwrite(parts[i].data, 1, parts[i].bytes, f) == parts[i].bytes;
	ok = ok && fwrite(trailer, sizeof trailer, 1, f) == 1;
	ok = ok && fflush(f) == 0 && fsync(fd) == 0;
	if (f)
		ok = (fclose(f) == 0) && ok;
	else
		close(fd);
	if (!ok || rename(tmp, path) != 0) {
		const int e = errno;
		unlink(tmp);
		return nst_fail(diag, NST_ERR_IO, "cannot write checkpoint %s: %s", path, strerror(e));
	}
	return NST_OK;
}

static bool all_finite(const float *v, size_t n) {
	for (size_t i = 0; i < n; i++)
		if (!isfinite(v[i]))
			return false;
	return true;
}

/* The optimizer's record as a header holds it. */
static struct nst_optim_record header_record(const struct checkpoint_header *h) {
	return (struct nst_optim_record){
	    .row = (int32_t)h->row,
	    .good_row = h->good_row,
	    .tol_iteration = h->tol_iteration,
	    .pending = h->pending != 0,
	    .done = h->done != 0,
	    .adam_step = h->adam_step,
	    .n_iter = h->n_iter,
	    .evals = h->evals,
	    .n_old = h->n_old,
	    .oldest = h->oldest,
	    .h_diag = h->h_diag,
	    .t = h->t,
	    .f = h->f,
	    .search_gtd = h->search_gtd,
	    .loop_done = h->loop_done != 0,
	    .searching = h->searching != 0,
	};
}

/* Whether a checkpoint's run state is one the run and its optimizer can be in (see report and
 * the optimizers' check): each counter within bounds and consistent with the others.  NULL if
 * so, else the name of the first field that is not. */
static const char *checkpoint_state_error(const struct nst_session *s, const struct checkpoint_header *h) {
	if (h->reserved != 0 || h->reserved2 != 0)
		return "reserved";
	if (h->searching > 1)
		return "searching";
	if (h->pending > 1 || h->loop_done > 1 || h->done > 1)
		return "pending / loop_done / done";
	if (h->row > NST_CHECKPOINT_MAX_ROWS || (int64_t)h->row + h->place.rows_before > NST_CHECKPOINT_MAX_ROWS)
		return "row";
	const int row = (int)h->row;
	if (h->good_row < -1 || h->good_row >= row)
		return "good_row";
	if (!isfinite(h->seconds) || h->seconds < 0.0)
		return "seconds";
	if (h->converged > 1 || (h->converged && !h->done && !h->loop_done) || h->tol_iteration < 0 ||
	    (row > 0 && !isfinite(h->tol_f)) || (row == 0 && h->tol_f != 0.0))
		return "the tolerance's window";
	if (!all_finite(s->x, s->n) || !all_finite(s->x_good, s->n))
		return "the picture";
	const struct nst_optim_record rec = header_record(h);
	return s->optimizer.ops->check(&s->optimizer, &rec);
}

/* The header of an open checkpoint of file_size bytes: the magic and the version checked, a
 * version 2 header's place filled in (scale 0 of 1). */
static enum nst_status read_header(FILE *f, const char *path, long long file_size, struct checkpoint_header *h,
                                   struct nst_diag *diag) {
	memset(h, 0, sizeof *h);
	if (fread(h, HEADER_ONE_SCALE_BYTES, 1, f) != 1)
		return nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		                "checkpoint %s is corrupted: %lld bytes, shorter than a checkpoint's header", path, file_size);
	if (memcmp(h->magic, NST_CHECKPOINT_MAGIC, 4) != 0)
		return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
		                "%s is not an nst checkpoint (no NSTC signature: another kind of file, or a corrupted checkpoint)",
		                path);
	if (h->version == 1)
		return nst_fail(diag, NST_ERR_WEIGHTS_VERSION,
		                "checkpoint %s has version 1: made by an older nst (this build reads versions %u and %u: start "
		                "the run again), or corrupted", path, CHECKPOINT_VERSION_ONE_SCALE, CHECKPOINT_VERSION);
	if (h->version != CHECKPOINT_VERSION && h->version != CHECKPOINT_VERSION_ONE_SCALE)
		return nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		                "checkpoint %s is corrupted (or from a newer nst): version %u, this build reads versions %u and %u",
		                path, h->version, CHECKPOINT_VERSION_ONE_SCALE, CHECKPOINT_VERSION);
	if (h->version == CHECKPOINT_VERSION_ONE_SCALE) {
		h->place.n_scales = 1;
		return NST_OK;
	}
	if (fread((char *)h + HEADER_ONE_SCALE_BYTES, sizeof *h - HEADER_ONE_SCALE_BYTES, 1, f) != 1)
		return nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		                "checkpoint %s is corrupted: %lld bytes, shorter than a checkpoint's header", path, file_size);
	return NST_OK;
}

void nst_checkpoint_place_write(const struct nst_checkpoint_place *place, struct nst_checkpoint_place_record *record) {
	memset(record, 0, sizeof *record);
	record->scale = (uint32_t)place->scale;
	record->n_scales = (uint32_t)place->n_scales;
	record->rows_before = place->rows_before;
	record->seconds_before = place->seconds_before;
	for (int i = 0; i < NST_CHECKPOINT_SCALES; i++)
		record->tile_sides[i] = place->tile_sides[i];
}

const char *nst_checkpoint_place_read(const struct nst_checkpoint_place_record *r, bool tiled,
                                      struct nst_checkpoint_place *place) {
	if (r->reserved != 0)
		return "reserved";
	if (r->n_scales < 1 || r->n_scales > NST_MAX_SCALES || r->scale >= r->n_scales)
		return "scale";
	if (r->rows_before < 0 || r->rows_before > NST_CHECKPOINT_MAX_ROWS || (r->scale == 0 && r->rows_before != 0))
		return "rows before its scale";
	if (!isfinite(r->seconds_before) || r->seconds_before < 0.0 || (r->scale == 0 && r->seconds_before != 0.0))
		return "seconds before its scale";
	for (uint32_t i = 0; i < NST_CHECKPOINT_SCALES; i++)
		if (r->tile_sides[i] < 0 || (i >= r->n_scales && r->tile_sides[i] != 0) ||
		    (i == r->scale && (r->tile_sides[i] > 0) != tiled))
			return "tile sides";
	*place = (struct nst_checkpoint_place){(int)r->scale, (int)r->n_scales, r->rows_before, r->seconds_before, tiled, {0}};
	for (int i = 0; i < NST_CHECKPOINT_SCALES; i++)
		place->tile_sides[i] = r->tile_sides[i];
	return NULL;
}

enum nst_status nst_checkpoint_impossible(const char *path, const char *field, struct nst_diag *diag) {
	return nst_fail(diag, NST_ERR_WEIGHTS_FORMAT,
	                "checkpoint %s is corrupted: its %s is impossible (its CRC is right: not written by this nst)", path,
	                field);
}

enum nst_status nst_checkpoint_read_end(FILE *f, const char *path, bool complete, uint32_t crc,
                                        const struct nst_checkpoint_place_record *record, bool tiled,
                                        const struct nst_checkpoint_place *want, struct nst_checkpoint_place *place,
                                        struct nst_diag *diag) {
	uint8_t trailer[NST_CHECKPOINT_CRC_BYTES];
	complete = complete && fread(trailer, sizeof trailer, 1, f) == 1 && fgetc(f) == EOF;
	if (!complete)
		return nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM, "checkpoint %s is corrupted: it changed size while being read",
		                path);
	if (crc != nst_checkpoint_trailer(trailer))
		return nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		                "checkpoint %s is corrupted: its CRC-32 is 0x%08x, its contents give 0x%08x", path,
		                nst_checkpoint_trailer(trailer), crc);
	const char *bad_field = nst_checkpoint_place_read(record, tiled, place);
	if (bad_field)
		return nst_checkpoint_impossible(path, bad_field, diag);
	if (place->scale != want->scale || place->n_scales != want->n_scales)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                "checkpoint %s was made at scale %d of a run of %d, this is scale %d of %d; resume with the same "
		                "command", path, place->scale + 1, place->n_scales, want->scale + 1, want->n_scales);
	return NST_OK;
}

FILE *nst_checkpoint_open(const char *path, long long *bytes, enum nst_status *st, struct nst_diag *diag) {
	FILE *f = fopen(path, "rb");
	struct stat file;
	if (!f) {
		*st = nst_fail(diag, NST_ERR_IO, "cannot open checkpoint %s: %s", path, strerror(errno));
		return NULL;
	}
	if (fstat(fileno(f), &file) != 0 || !S_ISREG(file.st_mode)) {
		fclose(f);
		*st = nst_fail(diag, NST_ERR_IO, "checkpoint %s is not a regular file", path);
		return NULL;
	}
	*bytes = (long long)file.st_size;
	return f;
}

uint32_t nst_checkpoint_trailer(const uint8_t *trailer) {
	return (uint32_t)trailer[0] | (uint32_t)trailer[1] << 8 | (uint32_t)trailer[2] << 16 | (uint32_t)trailer[3] << 24;
}

enum nst_status nst_checkpoint_verify_rest(FILE *f, const char *path, long long file_bytes, size_t done, uint32_t crc,
                                           struct nst_diag *diag) {
	uint8_t chunk[CHECKPOINT_READ_BYTES];
	struct nst_crc32_tables tables; /* made once for the whole file: the chunks are small */
	nst_crc32_tables_make(&tables);
	size_t left = (uint64_t)file_bytes >= done + NST_CHECKPOINT_CRC_BYTES
	                  ? (size_t)file_bytes - done - NST_CHECKPOINT_CRC_BYTES : 0;
	bool complete = left > 0;
	while (complete && left > 0) {
		const size_t n = left < sizeof chunk ? left : sizeof chunk, got = fread(chunk, 1, n, f);
		complete = got == n;
		crc = nst_crc32_sliced(&tables, crc, chunk, got);
		left -= n;
	}
	uint8_t trailer[NST_CHECKPOINT_CRC_BYTES];
	complete = complete && fread(trailer, sizeof trailer, 1, f) == 1 && fgetc(f) == EOF;
	if (!complete)
		return nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM, "checkpoint %s is corrupted: %lld bytes (truncated?)", path,
		                file_bytes);
	if (crc != nst_checkpoint_trailer(trailer))
		return nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		                "checkpoint %s is corrupted: its CRC-32 is 0x%08x, its contents give 0x%08x", path,
		                nst_checkpoint_trailer(trailer), crc);
	return NST_OK;
}

enum nst_status nst_checkpoint_read_place(const char *path, struct nst_checkpoint_place *place, int *width,
                                          int *height, struct nst_diag *diag) {
	if (!path || !place || !width || !height)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_checkpoint_read_place: a required argument is NULL");
	long long bytes = 0;
	struct checkpoint_header h;
	enum nst_status st = NST_OK;
	FILE *f = nst_checkpoint_open(path, &bytes, &st, diag);
	if (!f)
		return st;
	char magic[NST_CHECKPOINT_MAGIC_BYTES];
	if (fread(magic, sizeof magic, 1, f) == 1 && memcmp(magic, NST_CHECKPOINT_TILED_MAGIC, sizeof magic) == 0) {
		rewind(f);
		st = nst_tiled_checkpoint_place(f, path, bytes, place, width, height, diag);
		fclose(f);
		return st;
	}
	rewind(f);
	const char *bad_field = NULL;
	if ((st = read_header(f, path, bytes, &h, diag)) == NST_OK &&
	    (st = nst_checkpoint_verify_rest(f, path, bytes, header_bytes(h.version), crc_value(0, &h, header_bytes(h.version)),
	                                     diag)) == NST_OK &&
	    ((bad_field = nst_checkpoint_place_read(&h.place, false, place)) != NULL || h.width < 1 || h.height < 1 ||
	     h.width > INT32_MAX || h.height > INT32_MAX))
		st = nst_checkpoint_impossible(path, bad_field ? bad_field : "size", diag);
	fclose(f);
	if (st != NST_OK)
		return st;
	*width = (int)h.width;
	*height = (int)h.height;
	return NST_OK;
}

enum nst_status nst_checkpoint_info(const char *path, struct nst_checkpoint_info *info, struct nst_diag *diag) {
	if (!info)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "nst_checkpoint_info: no info to fill");
	struct nst_checkpoint_place place;
	int width = 0, height = 0;
	const enum nst_status st = nst_checkpoint_read_place(path, &place, &width, &height, diag);
	if (st == NST_OK)
	if (st != NST_OK)
		return st;
	*info = (struct nst_checkpoint_info){place.scale, place.n_scales, width, height, {0}};
	for (int i = 0; i < NST_MAX_SCALES; i++)
		info->tile_sides[i] = place.tile_sides[i];
	return NST_OK;
}

enum nst_status nst_session_load_checkpoint(struct nst_session *s, const char *path, struct nst_diag *diag) {
	const struct nst_checkpoint_place alone = {.n_scales = 1};
	struct nst_checkpoint_place place;
	return nst_session_load_checkpoint_at(s, path, &alone, &place, diag);
}

enum nst_status nst_session_load_checkpoint_at(struct nst_session *s, const char *path,
                                               const struct nst_checkpoint_place *want, struct nst_checkpoint_place *place,
                                               struct nst_diag *diag) {
	if (!s || !path || !want || !place)
		return nst_fail(diag, NST_ERR_INVALID_ARGUMENT, "no session to resume");
	if (!s->prepared) {
		const enum nst_status st = nst_session_prepare(s);
		if (st != NST_OK)
			return nst_fail(diag, st, "cannot prepare the session to resume");
	}
	long long file_bytes = 0;
	struct checkpoint_header h;
	bool touched = false; /* the session's buffers hold part of the file */
	enum nst_status st = NST_OK;
	FILE *f = nst_checkpoint_open(path, &file_bytes, &st, diag);
	if (!f)
		return st;
	if ((st = read_header(f, path, file_bytes, &h, diag)) != NST_OK) {
		/* said */
	} else if ((uint64_t)file_bytes != (uint64_t)checkpoint_bytes(s, h.version)) {
		char differs[160];
		st = header_differs(s, &h, differs, sizeof differs)
		         ? nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
		                    "checkpoint %s was made with other pictures or options (%s); resume with the same command",
		                    path, differs)
		         : nst_fail(diag, NST_ERR_WEIGHTS_CHECKSUM,
		                      "checkpoint %s is corrupted: %lld bytes, a checkpoint of this run has %zu (truncated?)", path,
		                      file_bytes, checkpoint_bytes(s, h.version));
	} else {
		/* The whole file through the CRC, the arrays straight into the session's buffers. */
		struct nst_state_array arrays[NST_STATE_MAX_ARRAYS];
		const int n_arrays = checkpoint_arrays(s, false, arrays);
		uint32_t crc = crc_value(0, &h, header_bytes(h.version));
		touched = true;
		bool complete = true;
		for (int i = 0; i < n_arrays && complete; i++) {
			complete = fread(arrays[i].data, 1, arrays[i].bytes, f) == arrays[i].bytes;
			crc = crc_value(crc, arrays[i].data, arrays[i].bytes);
		}
		const char *bad_field = NULL;
		char differs_buf[160];
		if ((st = nst_checkpoint_read_end(f, path, complete, crc, &h.place, false, want, place, diag)) != NST_OK) {
			/* said */
		} else if (header_differs(s, &h, differs_buf, sizeof differs_buf) || h.config_crc != config_fingerprint(s)) {
			if (!differs_buf[0]) /* the size and the optimizer are the same: the fingerprint tells the rest */
				snprintf(differs_buf, sizeof differs_buf, "the same size and optimizer; the pictures' pixels or "
				         "another option differ");
			st = nst_fail(diag, NST_ERR_INVALID_ARGUMENT,
			              "checkpoint %s was made with other pictures or options (%s); resume with the same command",
			              path, differs_buf);
		} else if ((bad_field = checkpoint_state_error(s, &h)) != NULL) {
			st = nst_checkpoint_impossible(path, bad_field, diag);
		}
	}
	fclose(f);
	if (st != NST_OK) {
		if (touched)
			s->prepared = false; /* the buffers hold part of the file: start over */
		return st;
	}
	struct nst_run_state *r = &s->run;
	memset(r, 0, sizeof *r);
	r->row = (int)h.row;
	r->pending = h.pending;
	r->done = h.done;
	r->good_row = h.good_row;
	r->seconds = h.seconds;
	r->last = (struct nst_losses){h.last[0], h.last[1], h.last[2], h.last[3]};
	r->tol_f = h.tol_f;
	r->tol_iteration = h.tol_iteration;
	r->converged = h.converged;
	const struct nst_optim_record rec = header_record(&h);
	s->optimizer.ops->restore(&s->optimizer, &rec);
	return NST_OK;
}
