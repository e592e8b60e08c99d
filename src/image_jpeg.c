/*
 * JPEG through libjpeg-turbo (Debian's libjpeg62-turbo-dev): the decoder PIL, and so the PyTorch
 * reference, uses (the same pixels: integer IDCT, fancy upsampling), and the one that can decode
 * a picture already reduced: its DCT scaling computes 1/2, 1/4 or 1/8 of each block directly,
 * so a 24-megapixel photo meant for a 256-pixel run is decoded as 750x500 pixels, scanline by
 * scanline, never at full size.  When even 1/8 does not fit the budget the scanlines are reduced
 * further by image_reducer.
 *
 * Memory: a baseline JPEG needs a few rows of blocks; a progressive (or otherwise multi-scan) one
 * needs every DCT coefficient of the picture at full size, whatever the scaling (128 bytes a
 * block).  Both are estimated from the header before anything is decoded, charged to the budget,
 * and given to libjpeg as its max_memory_to_use, which its memory manager (no backing store)
 * enforces for the coefficient arrays.
 *
 * Strictness: libjpeg fixes up corrupt data with a warning and goes on (a truncated file decodes
 * with its bottom grey).  Here a warning about the pixels (premature end, bad Huffman code, missing
 * data) fails the decode; warnings about metadata (extraneous bytes between markers, an unknown
 * JFIF revision or Adobe transform, a bad ICC marker, odd but readable scan parameters) do not,
 * nor does anything libjpeg reports after the last scanline (a missing EOI).  Progressive files
 * are limited to JPEG_SCAN_LIMIT scans (a file of thousands of tiny scans decodes for minutes).
 */
#include <limits.h>
#include <setjmp.h>
#include <stdio.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

#include "image_decode.h"

enum {
	JPEG_SCAN_LIMIT = 500,
	JPEG_MAX_DCT_SCALE = 8,           /* 1/8, libjpeg's smallest power-of-two scale */
	JPEG_BYTES_PER_COLUMN = 256,      /* libjpeg's row buffers, per output column (about 90 for 4:2:0) */
	JPEG_FIXED_BYTES = 1 << 20,       /* its tables and structures */
	JPEG_RGB = 3,
	JPEG_CMYK = 4,
	BLINN_ROUND = 128,
	BLINN_SHIFT = 8,
};

struct jpeg_job {
	struct jpeg_error_mgr err;
	struct jpeg_progress_mgr progress;
	jmp_buf jump;
	bool finishing;         /* every scanline is out: later warnings are ignored */
	bool too_many_scans;
	int code;               /* libjpeg's message code of the failure */
	char message[JMSG_LENGTH_MAX];
	struct image_budget *budget;
	size_t charged;         /* libjpeg's own memory, as estimated and charged */
	struct image_reducer reducer;
	bool reducing;
	uint8_t *row;           /* [output_width][components]: one scanline */
	uint8_t *rgb;           /* [output_width][3]: a CMYK scanline as RGB */
};

static void jpeg_on_error(j_common_ptr cinfo) {
	struct jpeg_job *job = cinfo->client_data;
	job->code = cinfo->err->msg_code;
	(*cinfo->err->format_message)(cinfo, job->message);
	longjmp(job->jump, 1);
}

static bool jpeg_warning_harmless(int code) {
	return code == JWRN_EXTRANEOUS_DATA || code == JWRN_JFIF_MAJOR || code == JWRN_ADOBE_XFORM ||
	       code == JWRN_BOGUS_ICC || code == JWRN_NOT_SEQUENTIAL || code == JWRN_BOGUS_PROGRESSION;
}

static void jpeg_on_message(j_common_ptr cinfo, int level) {
	struct jpeg_job *job = cinfo->client_data;
	if (level >= 0 || job->finishing || jpeg_warning_harmless(cinfo->err->msg_code)) return; /* traces */
	jpeg_on_error(cinfo);
}

static void jpeg_silent(j_common_ptr cinfo) { (void)cinfo; }

static void jpeg_on_progress(j_common_ptr cinfo) {
	struct jpeg_job *job = cinfo->client_data;
	if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > JPEG_SCAN_LIMIT) {
		job->too_many_scans = true;
		longjmp(job->jump, 1);
	}
}

/* The full-size DCT coefficients a multi-scan JPEG is decoded from, as libjpeg allocates them. */
static size_t jpeg_coefficient_bytes(const struct jpeg_decompress_struct *cinfo) {
	if (!jpeg_has_multiple_scans((j_decompress_ptr)cinfo)) return 0;
	size_t bytes = 0;
	for (int c = 0; c < cinfo->num_components; c++) {
		const jpeg_component_info *comp = &cinfo->comp_info[c];
		const size_t w = (comp->width_in_blocks + (size_t)comp->h_samp_factor - 1) / (size_t)comp->h_samp_factor *
		                 (size_t)comp->h_samp_factor;
		const size_t h = (comp->height_in_blocks + (size_t)comp->v_samp_factor - 1) / (size_t)comp->v_samp_factor *
		                 (size_t)comp->v_samp_factor;
		bytes += w * h * sizeof(JBLOCK);
	}
	return bytes;
}

struct jpeg_cost {
	size_t library; /* libjpeg's */
	size_t ours;    /* the reducer, the scanline buffers and the oriented copy */
};

static struct jpeg_cost jpeg_cost(const struct jpeg_decompress_struct *cinfo, int scale, int box, int components,
                                  bool oriented) {
	const int w = image_reduced_side((int)cinfo->image_width, scale);
	const int h = image_reduced_side((int)cinfo->image_height, scale);
	const size_t out = (size_t)image_reduced_side(w, box) * (size_t)image_reduced_side(h, box) * JPEG_RGB;
	return (struct jpeg_cost){
		JPEG_FIXED_BYTES + (size_t)w * JPEG_BYTES_PER_COLUMN + jpeg_coefficient_bytes(cinfo),
		image_reducer_bytes(w, h, box) + (size_t)w * (size_t)(components + JPEG_RGB) + (oriented ? out : 0),
	};
}

/* RGB from CMYK as Adobe writes it (inverted, with an APP14 marker) or as it is otherwise. */
static void jpeg_cmyk_to_rgb(const uint8_t *cmyk, uint8_t *rgb, size_t pixels, bool inverted) {
	for (size_t i = 0; i < pixels; i++) {
		const uint32_t k = inverted ? cmyk[4 * i + 3] : 255u - cmyk[4 * i + 3];
		for (size_t c = 0; c < 3; c++) {
			const uint32_t v = inverted ? cmyk[4 * i + c] : 255u - cmyk[4 * i + c];
			const uint32_t t = v * k + BLINN_ROUND; /* v * k / 255, rounded */
			rgb[3 * i + c] = (uint8_t)((t + (t >> BLINN_SHIFT)) >> BLINN_SHIFT);
		}
	}
}

static enum nst_status jpeg_run(struct jpeg_decompress_struct *cinfo, struct jpeg_job *job, const char *name,
                                const uint8_t *bytes, size_t size, int long_side, int orientation,
                                struct image_pixels *out, struct nst_diag *diag) {
	jpeg_mem_src(cinfo, bytes, (unsigned long)size);
	if (jpeg_read_header(cinfo, TRUE) != JPEG_HEADER_OK)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: corrupt JPEG: tables but no picture", name);
	const bool cmyk = cinfo->jpeg_color_space == JCS_CMYK || cinfo->jpeg_color_space == JCS_YCCK;
	const int components = cmyk ? JPEG_CMYK : JPEG_RGB;
	cinfo->out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
	cinfo->dct_method = JDCT_ISLOW;
	cinfo->do_fancy_upsampling = TRUE;

	/* The scale: a power of two up to 1/8 that leaves the resize a factor of 2 (image_reduction_range),
	 * more if the budget needs it; beyond 1/8, multiples of 8 through the reducer. */
	const int width = (int)cinfo->image_width, height = (int)cinfo->image_height;
	int first, last, scale = 1, box = 1;
	image_reduction_range(width, height, long_side, &first, &last);
	int factor = 1;
	while (factor * 2 <= first && factor < JPEG_MAX_DCT_SCALE) factor *= 2;
	struct jpeg_cost cost;
	for (;; factor = factor < JPEG_MAX_DCT_SCALE ? factor * 2 : factor + JPEG_MAX_DCT_SCALE) {
		scale = factor < JPEG_MAX_DCT_SCALE ? factor : JPEG_MAX_DCT_SCALE;
		box = factor / scale;
		cost = jpeg_cost(cinfo, scale, box, components, orientation != 1);
		if (factor > last)
			return image_over_budget(name, cinfo->progressive_mode ? "progressive JPEG" : "JPEG",
			                         cost.library + cost.ours, job->budget, diag);
		if (cost.library + cost.ours <= image_budget_left(job->budget)) break;
	}
	if (!image_budget_take(job->budget, cost.library)) return image_over_budget(name, "JPEG", 0, job->budget, diag);
	job->charged = cost.library;
	cinfo->mem->max_memory_to_use = (long)(cost.library > (size_t)LONG_MAX ? (size_t)LONG_MAX : cost.library);
	cinfo->scale_num = 1;
	cinfo->scale_denom = (unsigned int)scale;
	cinfo->progress = &job->progress;
	jpeg_start_decompress(cinfo);

	const int ow = (int)cinfo->output_width, oh = (int)cinfo->output_height;
	enum nst_status status = image_reducer_init(&job->reducer, ow, oh, box, job->budget, name, diag);
	if (status != NST_OK) return status;
	job->reducing = true;
	job->row = image_budget_malloc(job->budget, (size_t)ow * (size_t)components, false);
	job->rgb = cmyk ? image_budget_malloc(job->budget, (size_t)ow * JPEG_RGB, false) : NULL;
	if (!job->row || (cmyk && !job->rgb)) return image_over_budget(name, "JPEG", 0, job->budget, diag);
	while (cinfo->output_scanline < cinfo->output_height) {
		JSAMPROW rows[1] = {job->row};
		if (jpeg_read_scanlines(cinfo, rows, 1) != 1)
			return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: truncated JPEG", name);
		if (cmyk) jpeg_cmyk_to_rgb(job->row, job->rgb, (size_t)ow, cinfo->saw_Adobe_marker);
		image_reducer_row(&job->reducer, cmyk ? job->rgb : job->row);
	}
	job->finishing = true;
	jpeg_finish_decompress(cinfo);
	*out = image_reducer_finish(&job->reducer, job->budget);
	job->reducing = false;
	if (orientation != 1) return image_orient(name, out, orientation, job->budget, diag);
	return NST_OK;
}

/* setjmp's frame: nothing of it changes after setjmp (cinfo and job live in the caller's). */
static enum nst_status jpeg_guarded(struct jpeg_decompress_struct *cinfo, struct jpeg_job *job, const char *name,
                                    const uint8_t *bytes, size_t size, int long_side, int orientation,
                                    struct image_pixels *out, struct nst_diag *diag) {
	if (setjmp(job->jump) == 0) {
		jpeg_create_decompress(cinfo);
		return jpeg_run(cinfo, job, name, bytes, size, long_side, orientation, out, diag);
	}
	if (job->too_many_scans)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: corrupt JPEG: more than %d scans", name, JPEG_SCAN_LIMIT);
	if (job->code == JERR_OUT_OF_MEMORY || job->code == JERR_NO_BACKING_STORE || job->budget->refused)
		return image_over_budget(name, "JPEG", 0, job->budget, diag);
	if (job->code == JWRN_JPEG_EOF || job->code == JERR_INPUT_EOF)
		return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: truncated JPEG: %s", name, job->message);
	return nst_fail(diag, NST_ERR_NOT_AN_IMAGE, "%s: corrupt JPEG: %s", name, job->message);
}

enum nst_status jpeg_decode(const char *name, const uint8_t *bytes, size_t size, int long_side, int orientation,
                            struct image_budget *budget, struct image_pixels *out, struct nst_diag *diag) {
	struct jpeg_decompress_struct cinfo;
	struct jpeg_job job = {.budget = budget};
	cinfo.err = jpeg_std_error(&job.err);
	cinfo.client_data = &job; /* kept by jpeg_create_decompress */
	cinfo.mem = NULL;
	job.err.error_exit = jpeg_on_error;
	job.err.emit_message = jpeg_on_message;
	job.err.output_message = jpeg_silent;
	job.progress.progress_monitor = jpeg_on_progress;
	const enum nst_status status = jpeg_guarded(&cinfo, &job, name, bytes, size, long_side, orientation, out, diag);
	jpeg_destroy_decompress(&cinfo);
	if (job.reducing) image_reducer_free(&job.reducer, budget);
	image_budget_free(budget, job.row);
	image_budget_free(budget, job.rgb);
	image_budget_give(budget, job.charged);
	return status;
}
