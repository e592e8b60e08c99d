/*
 * The side-by-side sheet (--sheet): content | styles | result, all at the result's height; the
 * feed-forward mode has no style pictures: photo | result.
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

enum nst_status cli_write_sheet(const struct cli_file *f, const struct nst_image *content,
                                const struct nst_image *styles, int n_styles, const struct nst_image *result,
                                int quality, struct nst_diag *diag) {
	const int h = result->height;
	struct nst_image parts[NST_MAX_STYLES + 2];
	int n = 0, total_w = 0;
	enum nst_status st = NST_OK;
	const struct nst_image *src[NST_MAX_STYLES + 2];
	src[n++] = content;
	for (int k = 0; k < n_styles; k++)
		src[n++] = &styles[k];
	src[n++] = result;
	for (int i = 0; i < n; i++) {
		const int w = (int)lround((double)src[i]->width * h / src[i]->height);
		parts[i] = (struct nst_image){0};
		st = nst_image_resize(src[i], w < 1 ? 1 : w, h, &parts[i]);
		if (st != NST_OK)
			break;
		total_w += parts[i].width;
	}
	struct nst_image sheet = {total_w, h, NULL};
	if (st == NST_OK) {
		sheet.rgb = malloc((size_t)total_w * (size_t)h * 3);
		if (!sheet.rgb)
			st = NST_ERR_OUT_OF_MEMORY;
	}
	if (st == NST_OK) {
		int x0 = 0;
		for (int i = 0; i < n; i++) {
			for (int y = 0; y < h; y++)
				memcpy(sheet.rgb + ((size_t)y * (size_t)total_w + (size_t)x0) * 3,
				       parts[i].rgb + (size_t)y * (size_t)parts[i].width * 3, (size_t)parts[i].width * 3);
			x0 += parts[i].width;
		}
		st = cli_save_picture(f, &sheet, quality, diag);
	}
	for (int i = 0; i < n; i++)
		nst_image_free(&parts[i]);
	free(sheet.rgb);
	return st;
}

