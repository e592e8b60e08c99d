/*
 * nst — neural style transfer for edge boards.
 *
 * Public API.  The library never prints and never exits: every function that can fail returns an
 * `enum nst_status`, and the functions that can say more fill an optional `struct nst_diag` with
 * one human-readable line (which file, which layer, which limit).
 *
 * Memory follows the size-query-then-arena pattern:
 *
 *     nst_plan(weights, &options, &problem, &plan, &diag);        // exact byte count, nothing allocated
 *     void *arena = nst_arena_allocate(plan.total_bytes);
 *     nst_session_init(arena, plan.total_bytes, weights, &options, &problem, &session, &diag);
 *     ... nst_session_set_content / nst_session_set_style / nst_session_run ...
 *     nst_session_release(session); nst_arena_free(arena);
 *
 * After nst_session_init nothing is allocated: every buffer of the run (packed weights,
 * activations, ReLU bit masks, loss targets, optimizer state, per-thread scratch) lives in the
 * caller's arena.  Only the thread pool's threads themselves are outside it.
 *
 * Pixels cross the API as 8-bit RGB, row-major, `// [H][W][3]`.
 */
#ifndef NST_H
#define NST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define NST_VERSION_MAJOR 0
#define NST_VERSION_MINOR 2
#define NST_VERSION_PATCH 0
#define NST_VERSION_STRING "0.2.0"

/* Alignment of the arena the caller passes to nst_session_init. */
#define NST_ARENA_ALIGNMENT 64
/* Most style images one run can blend. */
#define NST_MAX_STYLES 8
/* Most layers one loss (content or style) can use. */
#define NST_MAX_LOSS_LAYERS 16
/* Longest layer name, including the terminating NUL ("relu5_4" needs 8). */
#define NST_LAYER_NAME_BYTES 24
/* Images whose header claims more pixels than this are refused before anything is allocated. */
#define NST_MAX_IMAGE_PIXELS ((int64_t)1 << 28)
#define NST_MAX_IMAGE_SIDE 32768

enum nst_status {
	NST_OK = 0,
	NST_ERR_INVALID_ARGUMENT,   /* an option or parameter is out of range (NaN, negative, zero size) */
	NST_ERR_IO,                 /* a file cannot be opened, read or written */
	NST_ERR_NOT_AN_IMAGE,       /* the file is empty, truncated or not a supported picture */
	NST_ERR_IMAGE_TOO_LARGE,    /* the picture's header claims more than NST_MAX_IMAGE_PIXELS */
	NST_ERR_WEIGHTS_FORMAT,     /* not a weights file, or truncated, or inconsistent */
	NST_ERR_WEIGHTS_VERSION,    /* a weights file of a version this build cannot read */
	NST_ERR_WEIGHTS_CHECKSUM,   /* the weights file's contents do not match its checksum */
	NST_ERR_UNKNOWN_LAYER,      /* a layer name that no supported network has */
	NST_ERR_LAYER_NOT_IN_WEIGHTS, /* a valid layer name that the weights file does not hold */
	NST_ERR_OUT_OF_MEMORY,      /* the arena is smaller than the plan, or the system refused memory */
	NST_ERR_OVER_MEMORY_LIMIT,  /* the plan exceeds the caller's memory limit */
	NST_ERR_NUMERIC,            /* the loss became NaN or infinite */
	NST_ERR_INTERRUPTED,        /* the progress callback asked the run to stop */
	NST_ERR_UNSUPPORTED,        /* the backend or precision is not available in this build or CPU */
	NST_STATUS_COUNT
};

/* A stable, human-readable name for a status ("invalid argument", ...). Never NULL. */
const char *nst_status_string(enum nst_status status);

/* One line of detail about the last failure of the call it was passed to. */
struct nst_diag {
	char message[512];
};

/* ---------------------------------------------------------------------------------------------
 * Weights
 * ------------------------------------------------------------------------------------------- */

enum nst_dtype { NST_DTYPE_F32 = 0, NST_DTYPE_F16 = 1 };

/* What a network is: a VGG stack (pooling after every block) or a feed-forward transformer net. */
/* VGG: the optimization's loss network; transformer: a trained one-pass network (one painting);
 * arbitrary: the arbitrary-style one-pass network (MicroAST: any painting). */
enum nst_arch { NST_ARCH_VGG = 1, NST_ARCH_TRANSFORMER = 2, NST_ARCH_ARBITRARY = 3 };

struct nst_layer_info {
	char name[NST_LAYER_NAME_BYTES]; /* "conv1_1" */
	int kernel_h, kernel_w;
	int in_channels, out_channels;
	int stride;
	int groups;                      /* output channel o reads input group o / (out_channels / groups); 1: all */
	bool has_norm;                   /* instance-norm scale and shift follow the bias */
	bool reflect;                    /* reflection padding (kernel / 2 each side) instead of zeros */
	bool tap;                        /* a tap: 1x1 conv + ReLU of tap_of's output, what reluB_I of that conv means */
	char tap_of[NST_LAYER_NAME_BYTES]; /* the trunk conv a tap reads ("conv1_1"); "" for other layers */
};

struct nst_weights;

/* Opens a weights file (the project's .nstw format): reads it into memory (malloc, the file's
 * size; freed by nst_weights_close), checks its header, its layer table and its checksum.  A file
 * truncated while it is read is refused (NST_ERR_WEIGHTS_FORMAT), and changes to the file after
 * the open do not reach the weights. */
enum nst_status nst_weights_open(const char *path, struct nst_weights **out, struct nst_diag *diag);
void nst_weights_close(struct nst_weights *weights);

enum nst_arch nst_weights_arch(const struct nst_weights *weights);
const char *nst_weights_model(const struct nst_weights *weights);   /* "vgg19", "candy", ... */
enum nst_dtype nst_weights_dtype(const struct nst_weights *weights);
uint32_t nst_weights_version(const struct nst_weights *weights);
uint32_t nst_weights_checksum(const struct nst_weights *weights);
uint64_t nst_weights_file_bytes(const struct nst_weights *weights);
int nst_weights_layer_count(const struct nst_weights *weights);
enum nst_status nst_weights_layer(const struct nst_weights *weights, int index, struct nst_layer_info *out);
/* Index of the layer with that name, or -1. */
int nst_weights_find(const struct nst_weights *weights, const char *name);

/* ---------------------------------------------------------------------------------------------
 * Images (8-bit RGB, [H][W][3]); these allocate with malloc and run before planning.
 * ------------------------------------------------------------------------------------------- */

struct nst_image {
	int width, height;
	uint8_t *rgb; /* [height][width][3] */
};

/* How long a FIFO opened by its name may stay silent before its first byte: nobody may ever open
 * it to write, and a reader must not wait forever. */
#define NST_FIFO_WAIT_MS 10000

/* Reads only the header: the picture's size (upright, after a JPEG's EXIF orientation), refusing
 * absurd sizes before any allocation.  "-" is refused with NST_ERR_INVALID_ARGUMENT (standard
 * input can be read only once); a pipe given by name is read (and used up) like a file. */
enum nst_status nst_image_info(const char *path, int *width, int *height, struct nst_diag *diag);
/* Decodes PNG, JPEG, BMP, TGA, GIF (first frame), PSD, PNM; grey, alpha, 16-bit, palette and CMYK
 * pictures are converted to 8-bit RGB, a JPEG is turned upright by its EXIF orientation.  "-"
 * reads standard input; a pipe or FIFO given by name is read like it (a named FIFO must deliver
 * its first byte within NST_FIFO_WAIT_MS).  Truncated files, and files holding less than their header
 * promises, are NST_ERR_NOT_AN_IMAGE.  The same as nst_image_load_for with no request. */
enum nst_status nst_image_load(const char *path, struct nst_image *out, struct nst_diag *diag);
/* Decodes a picture held in memory (nst_image_decode_for with no request). */
enum nst_status nst_image_decode(const uint8_t *bytes, size_t size, struct nst_image *out, struct nst_diag *diag);

/* What a picture is decoded for. */
struct nst_image_request {
	/* In: the long side the caller will resize the picture to (nst_image_fit, nst_image_resize), or
	 * 0 for its own size.  A picture at least 4 times larger is decoded reduced by an integer factor
	 * (JPEG: DCT scaling to 1/2, 1/4 or 1/8; the other formats: the mean of each block of pixels,
	 * row by row for PNG and PNM), leaving a factor of 2 or more to that resize; its long side never
	 * goes below long_side.  A smaller picture decodes exactly as with nst_image_load. */
	int long_side;
	/* In: the most memory the decode may hold at once, in bytes: the file, the decoder's buffers and
	 * the pixels.  A tighter budget reduces more (never below long_side); what does not fit even
	 * then is refused, before the memory is taken, with NST_ERR_OVER_MEMORY_LIMIT.  0: half the
	 * physical memory, at most 1 GiB (the limit of nst_image_load and nst_image_decode). */
	size_t max_bytes;
	/* Out: the picture's own size, upright (as nst_image_info gives it), whatever it was decoded at. */
	int width, height;
};
/* nst_image_load / nst_image_decode for a request (NULL: full size, the default budget). */
enum nst_status nst_image_load_for(const char *path, struct nst_image_request *request, struct nst_image *out,
                                   struct nst_diag *diag);
enum nst_status nst_image_decode_for(const uint8_t *bytes, size_t size, struct nst_image_request *request,
                                     struct nst_image *out, struct nst_diag *diag);
/* Resamples src to width x height into a new image (stb_image_resize's defaults: Mitchell when
 * shrinking, Catmull-Rom when enlarging; edges clamped; no sRGB conversion). */
enum nst_status nst_image_resize(const struct nst_image *src, int width, int height, struct nst_image *out);
/* The same resampling with nothing allocated (a stream's frames): into the caller's dst->rgb
 * [dst->height][dst->width][3], with the caller's scratch, aligned for float (malloc's is), of at
 * least nst_image_resize_scratch_bytes(src->width, src->height, dst->width, dst->height) bytes.
 * That is 0 for the same size (a copy, no scratch needed) and for sizes nst_image_resize refuses.
 * A smaller scratch: NST_ERR_INVALID_ARGUMENT, dst untouched. */
size_t nst_image_resize_scratch_bytes(int src_width, int src_height, int width, int height);
enum nst_status nst_image_resize_into(const struct nst_image *src, struct nst_image *dst, void *scratch,
                                      size_t scratch_bytes);
/* The size whose longer side is long_side, keeping the aspect ratio (each side rounded, >= 1). */
void nst_image_fit(int width, int height, int long_side, int *out_width, int *out_height);
/* Writes by the path's extension: .png, .jpg/.jpeg (quality 1..100), .bmp, .tga.  The file is
 * written to a temporary name beside it and renamed, so an existing file is replaced only by a
 * complete picture.  "-" writes PNG to standard output. */
enum nst_status nst_image_save(const char *path, const struct nst_image *image, int jpeg_quality,
                               struct nst_diag *diag);
void nst_image_free(struct nst_image *image);
/* Resamples a float picture src [src_height][src_width][3] into the caller's dst [height][width][3]
 * with nst_image_resize's filters (Catmull-Rom enlarging), neither rounded nor clamped: how an
 * optimized picture (nst_session_get_x, nst_tiled_picture: preprocessed BGR) becomes the next,
 * larger scale's start (nst_session_set_x then nst_session_restart, or nst_tiled_set_init_x)
 * without an 8-bit round trip; see also nst_x_upsample.  The same size copies src exactly.
 * Allocates stb_image_resize's scratch with malloc. */
enum nst_status nst_x_resize(const float *src, int src_width, int src_height, float *dst, int width, int height);
/* The coarse-to-fine hand-over with the detail a coarser scale cannot hold:
 * dst [fine->height][fine->width][3] = resize(x) + (fine - resize(coarse)), where x
 * [coarse->height][coarse->width][3] is a scale's optimized picture (preprocessed BGR, as
 * nst_session_get_x gives it), coarse and fine the same picture (the content) at the two scales'
 * sizes, and resize nst_x_resize's.  The next scale so starts from the coarse result for what the
 * coarse scale could represent and from the content's own detail above that, as a single-scale run
 * starts.  x is overwritten (it serves as the scratch: x - coarse); nothing else is allocated but
 * stb_image_resize's scratch. */
enum nst_status nst_x_upsample(float *x, const struct nst_image *coarse, float *dst, const struct nst_image *fine);

/* ---------------------------------------------------------------------------------------------
 * Optimization-based style transfer (Gatys et al.)
 * ------------------------------------------------------------------------------------------- */

enum nst_pooling { NST_POOLING_MAX = 0, NST_POOLING_AVG = 1 };
enum nst_optimizer { NST_OPTIMIZER_LBFGS = 0, NST_OPTIMIZER_ADAM = 1 };
/* L-BFGS's step length: none takes the step PyTorch's LBFGS takes without a line search (lr, the
 * first one scaled by 1/|g|_1), which can overshoot by orders of magnitude in its first steps;
 * strong_wolfe is PyTorch's line_search_fn="strong_wolfe": every step lowers the loss enough and
 * flattens the slope, at the price of an extra evaluation where the first trial fails. */
enum nst_line_search { NST_LINE_SEARCH_NONE = 0, NST_LINE_SEARCH_STRONG_WOLFE = 1 };
enum nst_init { NST_INIT_CONTENT = 0, NST_INIT_RANDOM = 1, NST_INIT_IMAGE = 2 };
enum nst_backend {
	NST_BACKEND_AUTO = 0,    /* the fastest available */
	NST_BACKEND_SCALAR = 1,  /* portable C: the reference every faster backend is checked against */
	NST_BACKEND_SIMD = 2,    /* our AVX2 / NEON microkernels */
	NST_BACKEND_XNNPACK = 3
};
/* What the convolutions of the optimized picture compute in.  fp16 runs them as XNNPACK's
 * float16 operators (weights converted to IEEE half once, at init; every value scaled by a power
 * of two into float16's range on the way in and back on the way out); the Gram matrices, losses,
 * gradients' sums and the optimizer stay float32.  It needs --backend xnnpack (or auto resolving
 * to it) and a CPU with FP16 arithmetic (ARMv8.2-A such as the Cortex-A76 of a Raspberry Pi 5);
 * elsewhere the plan falls back to fp32 and says why in plan.notice. */
enum nst_precision {
	NST_PRECISION_FP32 = 0,
	NST_PRECISION_FP16 = 1,
	/* The trained feed-forward networks only (nst_fast_*): their im2col, upsample and phase
	 * convolutions in int8 (weights per output channel, symmetric; each layer's input per tensor
	 * from its own range, no calibration; int32 sums), on AVX-512 VNNI or the ARMv8.2-A dot
	 * product; the residual blocks' Winograd convolutions, the instance norms and the last layer
	 * stay float32.  Elsewhere (and in the other modes) fp32, with a notice. */
	NST_PRECISION_INT8 = 2
};

struct nst_options {
	/* Layer names ("relu3_2"); counts may be 0. */
	char content_layers[NST_MAX_LOSS_LAYERS][NST_LAYER_NAME_BYTES];
	int n_content_layers;
	char style_layers[NST_MAX_LOSS_LAYERS][NST_LAYER_NAME_BYTES];
	int n_style_layers;
	/* Per style layer, multiplying its term (CONVENTIONS.md, "Per-layer style weights"); default
	 * all 1.  n_style_layer_weights: 0, or how many were given (then it must equal n_style_layers). */
	float style_layer_weights[NST_MAX_LOSS_LAYERS];
	int n_style_layer_weights;
	float content_weight;    /* default 5 */
	float style_weight;      /* default 100 */
	float tv_weight;         /* default 1e-3 */
	enum nst_pooling pooling;
	enum nst_optimizer optimizer;
	float learning_rate;     /* Adam default 10, L-BFGS default 1; <= 0 means the default */
	int history;             /* L-BFGS history m, default 10 */
	enum nst_line_search line_search; /* L-BFGS only; default strong_wolfe (the reference's: none) */
	/* Early stop: every NST_TOLERANCE_WINDOW iterations the loss is compared with the loss a
	 * window earlier, and the run ends when it fell by less than this fraction of it (default
	 * 0.02; 0: never; nst_session_converged then says so). */
	float tolerance;
	enum nst_init init;
	uint64_t seed;           /* for NST_INIT_RANDOM */
	bool original_colors;    /* keep the content's colours: luminance-only transfer */
	/* NST_BACKEND_AUTO measures: nst_plan times one forward + backward of the stack's most
	 * expensive layer on each available backend and plans for the fastest (plan.backend).  Pass the
	 * plan's backend to nst_session_init (options.backend = plan.backend) to get exactly the planned
	 * session; given AUTO, nst_session_init measures again and may resolve otherwise. */
	enum nst_backend backend; /* default: simd where the CPU has it, else scalar (deterministic) */
	int threads;             /* 0: nst_cpu_count(); more than that splits the work as asked but runs
	                            it on nst_cpu_count() threads */
	enum nst_precision precision; /* default fp32; fp16: see enum nst_precision */
};

/* Fills the defaults: CONVENTIONS.md's loss (content relu3_2; style relu1_1,relu2_1,relu3_1;
 * weights 5 / 100 / 1e-3; max pooling; init from the content), L-BFGS with history 10 and, unlike
 * the reference, PyTorch's strong-Wolfe line search (no overshooting first steps) and an early stop
 * at tolerance 0.02.  nst_options_network_defaults then puts in a network's own layers and weights. */
void nst_options_default(struct nst_options *options);
/* Parses a comma-separated layer list ("relu1_1,relu2_1") into options' content or style list. */
enum nst_status nst_options_set_layers(struct nst_options *options, bool style, const char *list,
                                       struct nst_diag *diag);
/* Parses "w1,w2,..." (finite, >= 0) into options' per-style-layer weights. */
enum nst_status nst_options_set_style_layer_weights(struct nst_options *options, const char *list,
                                                    struct nst_diag *diag);

/* What the caller set itself, which nst_options_network_defaults leaves as it is. */
enum nst_given {
	NST_GIVEN_CONTENT_LAYERS = 1u << 0,
	NST_GIVEN_STYLE_LAYERS = 1u << 1,
	NST_GIVEN_STYLE_LAYER_WEIGHTS = 1u << 2, /* without NST_GIVEN_STYLE_LAYERS: for the network's style layers */
	NST_GIVEN_CONTENT_WEIGHT = 1u << 3,
	NST_GIVEN_STYLE_WEIGHT = 1u << 4,
	NST_GIVEN_TV_WEIGHT = 1u << 5,
};
/* Each network carries its defaults (a version 2 .nstw file's defaults block; for a file without
 * one, CONVENTIONS.md's of nst_options_default): the content and style layers, the per-layer style
 * weights (only with the network's style layers) and the content, style and tv weights, except
 * what `given` (enum nst_given bits) says the caller chose. */
void nst_options_network_defaults(struct nst_options *options, const struct nst_weights *weights, unsigned given);

/* The sizes of one run: the output (= content) picture and every style picture, already at the
 * sizes the engine will use. */
struct nst_problem {
	int width, height;
	int n_styles;
	int style_width[NST_MAX_STYLES], style_height[NST_MAX_STYLES];
};

/* What a run needs, in bytes, before anything runs. */
struct nst_plan {
	size_t total_bytes;       /* pass an arena of this size to nst_session_init */
	size_t weights_bytes;     /* packed forward and backward convolution weights */
	size_t activations_bytes; /* ping-pong feature buffers (also the backward's gradients) */
	size_t features_bytes;    /* loss-layer gradients kept from the forward pass (beyond those the
	                             ping-pong buffers' unused tails hold) */
	size_t targets_bytes;     /* content features and style Gram targets */
	size_t masks_bytes;       /* ReLU bit masks and max-pool argmax codes */
	size_t optimizer_bytes;   /* image, gradient and Adam / L-BFGS state */
	size_t scratch_bytes;     /* per-thread im2col tiles and the rest */
	double forward_flops;     /* one forward pass of the image */
	double backward_flops;    /* one backward pass to the image */
	int threads;
	enum nst_backend backend; /* the backend auto resolved to */
	const char *kernel;       /* the GEMM microkernel's name */
	enum nst_precision precision; /* the precision the convolutions run in (fp32 when fp16 is not possible) */
	const char *notice;       /* NULL, or one line: why the precision asked for is not the one used */
	/* Backend auto: the measured median seconds of one forward + backward of auto_layer's
	 * convolution (on a strip of at most NST_AUTO_MAX_PIXELS pixels), per backend; 0 when not measured. */
	double auto_seconds[NST_BACKEND_XNNPACK + 1];
	char auto_layer[NST_LAYER_NAME_BYTES];
};
/* The area of the strip backend auto times (64 x 64 pixels). */
#define NST_AUTO_MAX_PIXELS 4096

enum nst_status nst_plan(const struct nst_weights *weights, const struct nst_options *options,
                         const struct nst_problem *problem, struct nst_plan *plan, struct nst_diag *diag);

struct nst_session;

/* Builds the session inside arena (at least plan.total_bytes, NST_ARENA_ALIGNMENT-aligned): packs
 * the weights, lays out every buffer, starts the thread pool. */
enum nst_status nst_session_init(void *arena, size_t arena_bytes, const struct nst_weights *weights,
                                 const struct nst_options *options, const struct nst_problem *problem,
                                 struct nst_session **out, struct nst_diag *diag);
/* Stops the thread pool. The arena is the caller's to free afterwards. */
void nst_session_release(struct nst_session *session);

/* Inputs, each exactly at the problem's size: rgb is [H][W][3]. */
enum nst_status nst_session_set_content(struct nst_session *session, const uint8_t *rgb);
enum nst_status nst_session_set_style(struct nst_session *session, int index, const uint8_t *rgb, float blend);
enum nst_status nst_session_set_init_image(struct nst_session *session, const uint8_t *rgb);
/* Computes the content and style targets and the starting picture. */
enum nst_status nst_session_prepare(struct nst_session *session);

struct nst_losses {
	double total, content, style, tv;
};

struct nst_progress {
	int iteration;           /* the loss log's row: evaluations (L-BFGS) or steps (Adam) so far */
	int iterations;          /* the run's planned count */
	struct nst_losses losses;
	double seconds;          /* since the optimization started */
	int step;                /* optimizer steps taken: Adam's steps (= iteration), L-BFGS's iterations
	                          * (each evaluates one row, or several inside a line search) */
	int accepted;            /* steps whose picture the optimizer has accepted: step, or step - 1 on a
	                          * line search's trial rows; nst_session_image gives that picture */
};

/* Called after every evaluation of the loss; return false to stop the run (it then returns
 * NST_ERR_INTERRUPTED and the current picture stays available).  Inside an L-BFGS line search the
 * stop takes effect when the search ends (at most 25 rows later), so that the picture is one the
 * search accepted.  A checkpoint saved from the callback inside a search records the search's
 * start, and a run resumed from it searches again from there (the same rows, computed again). */
typedef bool (*nst_progress_fn)(void *user, const struct nst_progress *progress);

#define NST_TOLERANCE_WINDOW 10

/* Runs the optimizer for `iterations` steps, reporting every loss-log row through progress. */
enum nst_status nst_session_run(struct nst_session *session, int iterations, nst_progress_fn progress,
                                void *user);
/* A run stopped by the callback (or by a non-finite loss) keeps its state: calling
 * nst_session_run again continues it.  nst_session_rows is the loss-log rows reported so far;
 * nst_session_good_row the row of the last picture whose loss was finite, which is what the
 * session holds after NST_ERR_NUMERIC. */
int nst_session_rows(const struct nst_session *session);
/* Starts a new run from the current picture (optimizer state cleared); a finished run stays
 * finished otherwise. */
enum nst_status nst_session_restart(struct nst_session *session);
int nst_session_good_row(const struct nst_session *session);
/* The run ended early: options.tolerance found the loss no longer moving. */
bool nst_session_converged(const struct nst_session *session);
/* Checkpoints: the run's state and the optimizer's buffers, written atomically; loading one into
 * a session made with the same pictures and options continues the run exactly (Adam bit for bit,
 * L-BFGS with its history). */
enum nst_status nst_session_save_checkpoint(const struct nst_session *session, const char *path, struct nst_diag *diag);
enum nst_status nst_session_load_checkpoint(struct nst_session *session, const char *path, struct nst_diag *diag);
/* The losses and the gradient of the current picture: grad is [H][W][3], BGR, preprocessed space. */
enum nst_status nst_session_evaluate(struct nst_session *session, struct nst_losses *losses, float *grad);
/* The optimized variable itself, [H][W][3] float32 in preprocessed space (BGR minus the mean):
 * read it, or replace it (a checkpoint, a test's perturbation). Call after nst_session_prepare. */
enum nst_status nst_session_get_x(struct nst_session *session, float *x);
enum nst_status nst_session_set_x(struct nst_session *session, const float *x);
/* The current picture as 8-bit RGB [H][W][3] (with the content's colours if asked): the one the
 * optimizer has accepted (inside an L-BFGS line search, where the search started). */
enum nst_status nst_session_image(struct nst_session *session, uint8_t *rgb);

/* Where the time of a session goes (for the benchmark): per convolution layer, summed over the
 * evaluations since the last reset. */
#define NST_PROFILE_MAX_LAYERS 16
struct nst_layer_profile {
	char name[NST_LAYER_NAME_BYTES];
	int height, width, in_channels, out_channels;
	double forward_seconds;   /* the convolution, its ReLU mask and the pooling after it */
	double backward_seconds;  /* the input-gradient convolution and the pooling's backward */
	double forward_flops;     /* one evaluation */
	double backward_flops;
};
struct nst_profile {
	int n_layers;
	struct nst_layer_profile layers[NST_PROFILE_MAX_LAYERS];
	double loss_seconds;      /* Gram matrices, losses and their gradients, TV */
	double optimizer_seconds; /* the Adam / L-BFGS vector updates */
	int forward_passes, backward_passes;
};
/* Copies the profile; reset starts a new one. */
void nst_session_profile(struct nst_session *session, struct nst_profile *out, bool reset);

/* Benchmark helpers for `nst bench`: they allocate with malloc and are not part of a planned run. */
const char *nst_bench_kernel_name(enum nst_backend backend);
/* The CPU features that select kernels ("avx2 fma avx512f", "neon"), written into buf. */
void nst_bench_cpu_features(char *buf, size_t size);
/* How long the measurements take (what `nst bench` estimates its duration from): the peak runs
 * NST_BENCH_PEAK_SECONDS; each direction of nst_bench_conv one warm-up run, then at least
 * NST_BENCH_CONV_MIN_REPEATS runs and NST_BENCH_CONV_MIN_SECONDS. */
#define NST_BENCH_PEAK_SECONDS 0.25
#define NST_BENCH_CONV_MIN_SECONDS 0.3
#define NST_BENCH_CONV_MIN_REPEATS 3
/* The GEMM microkernel's throughput on data that stays in L1: the practical peak (threads above
 * nst_cpu_count() count as that many). */
double nst_bench_peak_gflops(enum nst_backend backend, int threads);
/* One 3x3 convolution layer of that shape (picture h x w), forward and input gradient, in isolation,
 * in GFLOP/s counted as direct convolutions (2 * 9 * in * out per pixel): by im2col + GEMM (XNNPACK's
 * operators on xnnpack), and by Winograd F(winograd_tile x winograd_tile, 3x3) when winograd_tile
 * is 2 or 4 (the engine's kernels of the backend; 0: not measured, those outputs are set to 0). */
enum nst_status nst_bench_conv(enum nst_backend backend, int threads, int h, int w, int in_channels, int out_channels,
                               int winograd_tile, double *forward_gflops, double *backward_gflops,
                               double *winograd_forward_gflops, double *winograd_backward_gflops);
/* The Winograd tile m of F(m x m, 3x3) the optimization runs a 3x3 layer of that shape in VGG
 * block `block` (1: the picture's resolution) with on that backend (2), or 0: by im2col + GEMM
 * (the scalar backend, XNNPACK, the first block, few channels). */
int nst_bench_winograd_tile(enum nst_backend backend, int block, int in_channels, int out_channels);

/* The CPUs this process may use: those of its CPU affinity (taskset, cpusets), limited by the
 * CPU quota of its cgroups (cgroup v2 cpu.max, v1 cpu.cfs_quota_us: ceil(quota / period), as a
 * container's --cpus sets it); at least 1.  The default thread count, and the most threads a
 * session's thread pool starts. */
int nst_cpu_count(void);
/* How many more bytes this process can allocate without swapping or being refused: the least of
 * the kernel's MemAvailable, the headroom under its cgroups' memory limits (a container's; the
 * working set counted without the page cache the kernel can drop) and under its address-space
 * limit (ulimit -v, less the stacks of nst_cpu_count() threads).  0 when none can be read. */
size_t nst_memory_available(void);
/* An optimization given no memory limit is planned within this share of the memory available
 * (the CLI without --max-memory: of what the process holds plus nst_memory_available();
 * nst_stylize: of nst_memory_available()), in tiles where the whole picture needs more: the rest
 * is for what the kernel and the process need beside the arena (page tables, libraries' buffers).
 * A one-pass run, which cannot tile, is refused only beyond nst_memory_available(). */
#define NST_AVAILABLE_MEMORY_SHARE 0.9

const char *nst_backend_name(enum nst_backend backend);
/* Whether this build and CPU can run the backend. */
bool nst_backend_available(enum nst_backend backend);
const char *nst_precision_name(enum nst_precision precision); /* "fp32", "fp16", "int8" */
/* Whether this build and CPU can run the backend in that precision (fp16: XNNPACK's float16
 * operators on a CPU with FP16 arithmetic; int8: never, the optimization has no int8).  Probes
 * XNNPACK: call it outside a running session. */
bool nst_precision_available(enum nst_backend backend, enum nst_precision precision);

/* ---------------------------------------------------------------------------------------------
 * Feed-forward style transfer (Johnson et al.): one trained network per style, one pass per
 * picture.  The same size-query-then-arena pattern:
 *
 *     nst_fast_plan(weights, 512, 512, threads, NST_BACKEND_AUTO, NST_PRECISION_FP32, &plan, &diag);
 *     void *arena = nst_arena_allocate(plan.total_bytes);
 *     nst_fast_init(arena, plan.total_bytes, weights, 512, 512, threads, NST_BACKEND_AUTO, NST_PRECISION_FP32,
 *                   &session, &diag);
 *     nst_weights_close(weights);               // unpacked from float16 and packed into the arena
 *     for each picture: nst_fast_run(session, width, height, rgb_in, rgb_out, strength);
 *     nst_fast_release(session); nst_arena_free(arena);
 *
 * Nothing is allocated after nst_fast_init.  A session planned for W x H runs any picture up to
 * that size, and more generally any picture whose padded area (each side rounded up to a multiple
 * of 4) is at most the planned picture's: one plan serves portrait and landscape pictures alike.
 * A picture whose sides are not multiples of 4 is padded at the right and the bottom by
 * replicating its last column / row, and the result is cropped back: the output always has the
 * input's size.  Input and output are 8-bit RGB [H][W][3], 0..255, no mean subtraction.
 *
 * Precision fp16 multiplies the GEMMs in float16 (nst_f16_gemm_*: weights packed as float16, the
 * activations rounded to float16 as the kernel reads them, float16 sums) on CPUs with FP16 vector
 * arithmetic (ARMv8.2-A: Pi 5, Jetson Orin); the residual blocks then use Winograd F(2x2, 3x3),
 * whose transforms lose less than F(4x4)'s in float16, and the instance norms, the last layer's
 * 3-channel dot products, the residual adds and the transforms stay float32.  With backend
 * scalar it runs the float16 kernels' portable twin (slow, the reference); elsewhere the plan
 * falls back to fp32 and says why in plan.notice.
 * ------------------------------------------------------------------------------------------- */

/* The feed-forward mode's memory target: the residual blocks run Winograd F(4x4, 3x3) when the
 * plan stays within it that way, else F(2x2, 3x3), whose packed weights are 2.25x smaller. */
#define NST_FAST_MEMORY_TARGET ((size_t)64 << 20)

struct nst_fast_plan {
	size_t total_bytes;       /* pass an arena of this size to nst_fast_init */
	size_t weights_bytes;     /* packed kernels and biases, instance-norm scales and shifts */
	size_t activations_bytes; /* one region: each layer reads one end of it and writes the other */
	size_t scratch_bytes;     /* the session itself, per-thread im2col tiles, instance-norm sums */
	int width, height;        /* as planned */
	int padded_width, padded_height; /* rounded up to multiples of 4 */
	double flops;             /* one picture of the planned size, counted as direct convolutions */
	int winograd_tile;        /* the residual blocks' Winograd F(m x m, 3x3): m = 4, or 2 (see above) */
	int threads;
	enum nst_backend backend; /* the backend auto resolved to */
	enum nst_precision precision; /* what the GEMMs multiply in (fp32 when fp16 is not possible) */
	const char *notice;       /* NULL, or one line: why the precision asked for is not the one used */
	const char *kernel;       /* the GEMM microkernel's name */
};

struct nst_fast_session;

/* The exact bytes of a session for pictures up to width x height (threads 0: nst_cpu_count()).  Refuses weights that are not a feed-forward network (arch 2, conv1..conv16 shaped as
 * in fast-styles/ARCHITECTURE.md; channel widths may differ). */
enum nst_status nst_fast_plan(const struct nst_weights *weights, int width, int height, int threads,
                              enum nst_backend backend, enum nst_precision precision, struct nst_fast_plan *plan,
                              struct nst_diag *diag);
/* Builds the session inside arena (at least plan.total_bytes, NST_ARENA_ALIGNMENT-aligned):
 * unpacks and packs the weights once, lays out every buffer, starts the thread pool. */
enum nst_status nst_fast_init(void *arena, size_t arena_bytes, const struct nst_weights *weights, int width,
                              int height, int threads, enum nst_backend backend, enum nst_precision precision,
                              struct nst_fast_session **out, struct nst_diag *diag);
/* Whether nst_fast_plan runs the backend (simd, scalar, auto) in that precision here rather than
 * falling back (fp16 / int8: the float16 / int8 GEMM kernels this build and CPU have; scalar:
 * always). */
bool nst_fast_precision_available(enum nst_backend backend, enum nst_precision precision);
/* Stops the thread pool. The arena is the caller's to free afterwards. */
void nst_fast_release(struct nst_fast_session *session);
const struct nst_fast_plan *nst_fast_session_plan(const struct nst_fast_session *session);

/* Stylizes rgb_in [height][width][3] into rgb_out [height][width][3] (which may be rgb_in):
 * out = round(strength * clamp(stylized, 0, 255) + (1 - strength) * in), strength in 0..1, so
 * strength 1 is the network's output rounded and clamped and strength 0 the input exactly.
 * NST_ERR_INVALID_ARGUMENT for a picture beyond the plan or a strength outside 0..1. */
enum nst_status nst_fast_run(struct nst_fast_session *session, int width, int height, const uint8_t *rgb_in,
                             uint8_t *rgb_out, float strength);
/* The network's output before rounding and clamping: float32 RGB [height][width][3]. */
enum nst_status nst_fast_run_raw(struct nst_fast_session *session, int width, int height, const uint8_t *rgb_in,
                                 float *out);

/* ---------------------------------------------------------------------------------------------
 * Any painting in one pass: the arbitrary-style network (arch 3, MicroAST; weights/FORMAT.md).
 * A style encoder reads the painting; the photo's features are renormalized to the painting's
 * statistics (AdaIN) and filtered by modulations computed from it.  The painting's part is
 * computed once per painting, so frames or many photos of one painting cost the photo's part only:
 *
 *     nst_arbitrary_plan(weights, 512, 512, 512, 512, threads, NST_BACKEND_AUTO, NST_PRECISION_FP32,
 *                        &plan, &diag);
 *     arena = nst_arena_allocate(plan.total_bytes);
 *     nst_arbitrary_init(arena, plan.total_bytes, weights, 512, 512, 512, 512, threads, ..., &session, &diag);
 *     nst_arbitrary_set_style(session, 1, &painting, NULL, &diag);
 *     for each photo: nst_arbitrary_run(session, width, height, rgb_in, 1.0f, rgb_out);
 *     nst_arbitrary_release(session); nst_arena_free(arena);
 *
 * Nothing is allocated after nst_arbitrary_init.  Photos of any size up to the plan's (sides of
 * at least 8) run; sides that are not multiples of 4 are padded (the last row and column
 * repeated) and the result cropped back.  Paintings up to the plan's style size (sides of at
 * least 16) are taken as they are: resample them first to the size wanted.
 * ------------------------------------------------------------------------------------------- */

/* The smallest painting side the arbitrary-style network takes (its reference's). */
#define NST_ARBITRARY_MIN_PAINTING_SIDE 16
/* The smallest photo side it takes (a quarter of it is reflection padded by 1). */
#define NST_ARBITRARY_MIN_PHOTO_SIDE 8

struct nst_arbitrary_plan {
	size_t total_bytes;       /* pass an arena of this size to nst_arbitrary_init */
	size_t weights_bytes;     /* packed kernels and biases; the modulated blocks' kernels as read, for each painting */
	size_t activations_bytes; /* two regions of 12 and 16 floats per pixel of the largest picture */
	size_t scratch_bytes;     /* the session itself, per-thread im2col blocks and grouped-convolution rows */
	int width, height;        /* the largest photo, as planned */
	int padded_width, padded_height; /* rounded up to multiples of 4 */
	int style_width, style_height;   /* the largest painting */
	double flops;             /* one photo of the planned size (content encoder and decoder) */
	double style_flops;       /* one painting of the planned size (style encoder and modulator) */
	int threads;
	enum nst_backend backend; /* the backend auto resolved to */
	enum nst_precision precision; /* what the dense convolutions multiply in (fp32 when fp16 is not possible) */
	const char *notice;       /* NULL, or one line: why the precision asked for is not the one used */
	const char *kernel;       /* the GEMM microkernel's name */
};

struct nst_arbitrary_session;

/* The exact bytes of a session for photos up to width x height and paintings up to style_width x
 * style_height (threads 0: nst_cpu_count()).  Refuses weights that are not the arbitrary-style
 * network (arch 3, its 31 layers as in ARCHITECTURE.md). */
enum nst_status nst_arbitrary_plan(const struct nst_weights *weights, int width, int height, int style_width,
                                   int style_height, int threads, enum nst_backend backend, enum nst_precision precision,
                                   struct nst_arbitrary_plan *plan, struct nst_diag *diag);
/* Builds the session inside arena (at least plan.total_bytes, NST_ARENA_ALIGNMENT-aligned): packs
 * the weights once (the weights may be closed afterwards), lays out every buffer, starts the threads. */
enum nst_status nst_arbitrary_init(void *arena, size_t arena_bytes, const struct nst_weights *weights, int width,
                                   int height, int style_width, int style_height, int threads, enum nst_backend backend,
                                   enum nst_precision precision, struct nst_arbitrary_session **out,
                                   struct nst_diag *diag);
void nst_arbitrary_release(struct nst_arbitrary_session *session);
const struct nst_arbitrary_plan *nst_arbitrary_session_plan(const struct nst_arbitrary_session *session);
/* Encodes the painting (n = 1) or blends n paintings: their feature statistics and modulations are
 * averaged with weights blend [n] (NULL: equal; any non-negative numbers, normalized to sum 1).
 * Kept for every following run until the next call. */
enum nst_status nst_arbitrary_set_style(struct nst_arbitrary_session *session, int n, const struct nst_image *paintings,
                                        const float *blend, struct nst_diag *diag);
/* Stylizes rgb_in [height][width][3] into rgb_out [height][width][3] (which may be rgb_in);
 * alpha 0..1 mixes the photo's features with their restyled version at both AdaIN steps (1: the
 * network as trained; 0: the decoder on the photo's own statistics; torch_arbitrary.py's --alpha.
 * MicroAST was trained at 1: below about 0.9 it paints flat colour).  NST_ERR_INVALID_ARGUMENT
 * before nst_arbitrary_set_style, for a photo beyond the plan or an alpha outside 0..1. */
enum nst_status nst_arbitrary_run(struct nst_arbitrary_session *session, int width, int height, const uint8_t *rgb_in,
                                  float alpha, uint8_t *rgb_out);
/* As nst_arbitrary_run, then the pixels mixed with the photo's: strength 0..1 times the stylized
 * picture plus (1 - strength) times rgb_in, rounded (nst_fast_run's strength; what --strength
 * does, with alpha 1). */
enum nst_status nst_arbitrary_run_mixed(struct nst_arbitrary_session *session, int width, int height,
                                        const uint8_t *rgb_in, float alpha, float strength, uint8_t *rgb_out);
/* As nst_arbitrary_run, but out [height][width][3] is the network's output times 255, unclamped
 * and unrounded (what torch_arbitrary.py --raw writes). */
enum nst_status nst_arbitrary_run_raw(struct nst_arbitrary_session *session, int width, int height,
                                      const uint8_t *rgb_in, float alpha, float *out);

/* ---------------------------------------------------------------------------------------------
 * Tiled high resolution: a picture larger than memory allows is optimized in overlapping tiles,
 * all of one size, by ONE session planned for that size.  The style targets (Gram matrices) are
 * computed once, from the whole style picture (sized as for the whole picture), region by region
 * with a margin wide enough that they equal the whole picture's exactly; every tile then gets its
 * own content target (the content features of its region) and starts from the picture as the
 * previous tiles left it.  Tiles overlap for context; a tile's result goes back into the picture
 * with weights that sum to 1 over the tiles of a sweep, each pixel taken from one tile but for a
 * raised-cosine crossfade in the middle of each overlap (away from the cut edges, where a tile's
 * zero padding shows); odd sweeps use a grid of one more tile per cut axis, so their crossfades
 * fall elsewhere.
 *
 *     nst_tile_plan(weights, &options, &whole_problem, &tile_options, &plan, &diag);
 *     void *arena = nst_arena_allocate(plan.total_bytes);
 *     nst_tiled_init(arena, plan.total_bytes, weights, &plan, &tiled, &diag);
 *     nst_tiled_set_content(tiled, content_rgb);          // [H][W][3], kept by pointer
 *     nst_tiled_set_style(tiled, 0, style_rgb, 1.0f);     // the whole style picture
 *     nst_tiled_run(tiled, iterations_per_tile, progress, user);
 *     nst_tiled_image(tiled, rgb);                        // [H][W][3]
 *     nst_tiled_release(tiled); nst_arena_free(arena);
 *
 * The arena holds the tile session, one tile's pixels and the picture itself ([H][W][3] float32,
 * the only whole-picture buffer); nothing is allocated after nst_tiled_init.  Losses per tile
 * compare with the whole picture's: content and style are means (Gram = F^T F / N), and the tile
 * session's tv weight is scaled by the whole picture's pixels over the tile's, so a tile's loss
 * has the whole loss's balance.
 * ------------------------------------------------------------------------------------------- */

/* Most tiles along one side of a picture. */
#define NST_TILE_MAX_GRID 256
/* Smallest tile side the planner considers, and the step of its search. */
#define NST_TILE_MIN 64
#define NST_TILE_STEP 16

struct nst_rect {
	int x, y, width, height;
};

struct nst_tile_options {
	int tile;              /* tile side in pixels; 0: the largest that fits budget_bytes */
	int overlap;           /* pixels shared by neighbouring tiles at least; 0: tile / 4 */
	int sweeps;            /* passes over the picture; 0: 2 */
	size_t budget_bytes;   /* the most total_bytes may be; 0: no limit (then tile must be given) */
};

struct nst_tile_plan {
	int width, height;             /* the whole picture */
	int side;                      /* the tile side (given, or the largest that fits the budget) */
	int tile_width, tile_height;   /* every tile: the tile side, or the picture's side if smaller */
	int overlap;                   /* the least overlap of two neighbouring tiles, pixels */
	int feather;                   /* the widest crossfade between neighbours: half the overlap, pixels */
	int crossfade_x[2], crossfade_y[2]; /* the crossfades of even and odd sweeps, narrowed to fit */
	int cols[2], rows[2];          /* the grid of even and odd sweeps */
	int sweeps;
	int style_alignment;           /* style regions' corners are multiples of this (the pooling factor) */
	int style_halo;                /* margin around a style region's own pixels, pixels */
	int style_regions;             /* regions over all style pictures */
	struct nst_options whole_options;   /* as given */
	struct nst_problem whole;           /* as given */
	struct nst_options session_options; /* the tile session's: tv weight scaled, init from the picture */
	struct nst_problem session_problem; /* tile size; style crops of at most the tile size */
	struct nst_plan session;       /* the tile session's plan */
	size_t picture_bytes;          /* the picture, [H][W][3] float32 */
	size_t tile_bytes;             /* one tile's pixels: float32 and 8-bit */
	size_t total_bytes;            /* the arena of nst_tiled_init: session + tile + picture */
};

/* The tile size (given, or the largest multiple of NST_TILE_STEP from NST_TILE_MIN up that fits
 * budget_bytes), overlap, grids, sweeps and bytes of a tiled run of the whole problem.
 * NST_ERR_OVER_MEMORY_LIMIT when not even the smallest tile (or the given one) fits the budget:
 * plan then holds that tile's plan, so plan->total_bytes is the least budget that works. */
enum nst_status nst_tile_plan(const struct nst_weights *weights, const struct nst_options *options,
                              const struct nst_problem *whole, const struct nst_tile_options *tile_options,
                              struct nst_tile_plan *plan, struct nst_diag *diag);
/* Tiles of one sweep (cols * rows of its parity), and where tile index (row-major) of it lies. */
int nst_tile_count(const struct nst_tile_plan *plan, int sweep);
struct nst_rect nst_tile_rect(const struct nst_tile_plan *plan, int sweep, int index);
/* The blend weight of that tile at picture pixel (x, y), 0..1: every pixel belongs to one tile
 * of the sweep, but for raised-cosine crossfades centred in the middle of each overlap; 0 within
 * half the overlap of a tile's cut edges; over a sweep's tiles the weights of a pixel sum to 1. */
float nst_tile_weight(const struct nst_tile_plan *plan, int sweep, int index, int x, int y);

/* For the tiles' session: one region of a style picture too large for it, given as a crop
 * rgb [crop->height][crop->width][3] of the whole style picture (whole_width x whole_height; crop
 * and own in its pixels, own inside crop, crop at most the problem's style size).  The Gram terms
 * of own's features are added into the targets with blend times their share of the whole
 * picture's features, so that regions partitioning the picture give its Gram matrices exactly
 * when every crop reaches plan.style_halo beyond own (or the picture's edge) and every corner is a
 * multiple of plan.style_alignment (or on the picture's edge; refused otherwise). */
enum nst_status nst_session_add_style_region(struct nst_session *session, int index, const uint8_t *rgb,
                                             const struct nst_rect *crop, const struct nst_rect *own,
                                             int whole_width, int whole_height, float blend);

struct nst_tiled;

enum nst_status nst_tiled_init(void *arena, size_t arena_bytes, const struct nst_weights *weights,
                               const struct nst_tile_plan *plan, struct nst_tiled **out, struct nst_diag *diag);
void nst_tiled_release(struct nst_tiled *tiled);
/* The whole content picture [H][W][3]: kept by pointer, it must live until the run ends. */
enum nst_status nst_tiled_set_content(struct nst_tiled *tiled, const uint8_t *rgb);
/* A whole style picture [Hs][Ws][3] at the problem's style size, its Gram matrices computed
 * region by region into the targets now. */
enum nst_status nst_tiled_set_style(struct nst_tiled *tiled, int index, const uint8_t *rgb, float blend);
/* The starting picture [H][W][3] (NST_INIT_IMAGE, or a coarser scale's result upsampled);
 * otherwise the options' init (content, or random from the seed). */
enum nst_status nst_tiled_set_init_image(struct nst_tiled *tiled, const uint8_t *rgb);
/* The same, as the float picture [H][W][3] in preprocessed BGR (a coarser scale's result through
 * nst_x_resize or nst_x_upsample), copied exactly; NST_ERR_INVALID_ARGUMENT if a value is not finite. */
enum nst_status nst_tiled_set_init_x(struct nst_tiled *tiled, const float *x);
/* Runs every sweep: each tile gets `iterations` optimizer steps from a fresh optimizer state.
 * progress sees every loss-log row of every tile, numbered across the whole run (iterations:
 * the run's rows - 1); its losses are the tile's.  A tile's pixels go into the picture when it
 * ends.  Stopped by the callback (NST_ERR_INTERRUPTED) or by a non-finite loss (NST_ERR_NUMERIC:
 * the tile's last finite picture), the current tile is kept aside: nst_tiled_image shows it over
 * the picture, nst_tiled_picture is the picture before it (what a checkpoint holds), and a next
 * nst_tiled_run starts that tile over, its rows numbered again from the tile's first. */
enum nst_status nst_tiled_run(struct nst_tiled *tiled, int iterations, nst_progress_fn progress, void *user);
/* Where the run is: the sweep and tile being optimized (or last optimized). */
void nst_tiled_position(const struct nst_tiled *tiled, int *sweep, int *tile);
/* The picture as 8-bit RGB [H][W][3] (with the content's colours if asked). */
enum nst_status nst_tiled_image(struct nst_tiled *tiled, uint8_t *rgb);
/* The picture itself, [H][W][3] float32, preprocessed BGR (as nst_session_get_x). */
const float *nst_tiled_picture(const struct nst_tiled *tiled);

/* ---------------------------------------------------------------------------------------------
 * Coarse to fine under a memory budget (src/coarse_to_fine.c): a run of several scales, each
 * optimized from the previous one's picture upsampled in float (nst_x_upsample: plus the content's
 * detail when the run starts from the content; nst_x_resize otherwise), each scale as one session
 * or, when its plan exceeds the budget (or it is larger than a given tile), in tiles of the largest
 * size that fits (nst_tile_plan).  ONE arena serves the whole run: the driver's state, the two
 * float pictures of the hand-over between scales, and one region of the largest scale's need that
 * every scale's session or tiles reuse in turn; nothing is allocated after nst_scales_init but
 * stb_image_resize's scratch inside the hand-over (nst_x_resize).
 *
 *     nst_schedule_make(1024, NULL, 0, 300, NULL, &schedule);  // 256 x 300, 512 x 150, 1024 x 75
 *     ... fill options.problems[i] from the pictures resized to schedule.size[i] ...
 *     nst_scales_plan(weights, &options, &scales_options, &plan, &diag);
 *     void *arena = nst_arena_allocate(plan.total_bytes);
 *     nst_scales_init(arena, plan.total_bytes, weights, &plan, &scales, &diag);
 *     for each scale i: nst_scales_set_content(scales, i, content_rgb[i]);   // kept by pointer
 *                       nst_scales_set_style(scales, i, k, style_rgb[i][k], 1.0f);
 *     nst_scales_run(scales, progress, user, &diag);     // or nst_scales_next + nst_scales_run_scale
 *     nst_scales_image(scales, rgb);                     // the last scale's picture, [H][W][3]
 *     nst_scales_release(scales); nst_arena_free(arena);
 *
 * Stepping scale by scale (nst_scales_next, then nst_scales_run_scale) lets the caller act between
 * a scale's start and its run: evaluate the first gradient, or load a checkpoint (which starts
 * the checkpoint's scale).
 * ------------------------------------------------------------------------------------------- */

/* Most scales of one run, and where the default schedule starts. */
#define NST_MAX_SCALES 8
#define NST_SCALES_START 256

/* Long sides (ascending; the last is the output's) and each scale's optimizer steps. */
struct nst_schedule {
	int n;
	int size[NST_MAX_SCALES];
	int iterations[NST_MAX_SCALES];
};
/* The schedule of a run: the n_sizes given sizes, or by default `size` halved down to
 * NST_SCALES_START (a larger picture starts coarse: 1024 -> 256, 512, 1024; at most 256: one
 * scale); each scale's iterations given (per_scale, one per scale), or `iterations` for the first
 * and half the previous scale's (rounded up) for each next one; iterations 0 makes every scale 0.
 * NST_ERR_INVALID_ARGUMENT for sizes that do not grow, more than NST_MAX_SCALES, or negative counts. */
enum nst_status nst_schedule_make(int size, const int *sizes, int n_sizes, int iterations, const int *per_scale,
                                  struct nst_schedule *out);

struct nst_scales_options {
	int n_scales;                                /* 1..NST_MAX_SCALES */
	struct nst_problem problems[NST_MAX_SCALES]; /* each scale's picture and style sizes, ascending */
	int iterations[NST_MAX_SCALES];              /* optimizer steps of each scale (per tile when tiled) */
	/* tile > 0: a scale whose long side is larger runs in tiles of that side; overlap and sweeps as
	 * nst_tile_options'; budget_bytes is not read (the budget comes from max_bytes). */
	struct nst_tile_options tiles;
	/* The most the run may take (0: no limit): a scale whose arena (its plan, the driver's state and
	 * the hand-over) exceeds it runs in tiles planned within max_bytes less held_bytes less the
	 * driver's state and the hand-over.  held_bytes: what the caller holds beside the arena (the
	 * process itself, its pictures). */
	size_t max_bytes;
	size_t held_bytes;
	/* A scale's tiles decided: > 0 in tiles of that side, NST_SCALE_WHOLE as one session, whatever
	 * tiles.tile and the budget would choose (but within the budget, else refused); 0: as they
	 * choose.  A resumed run's scales from the checkpoint's on (nst_checkpoint_info), so that it is
	 * planned as the run it continues. */
	int tile_sides[NST_MAX_SCALES];
};
#define NST_SCALE_WHOLE (-1)

struct nst_scales_plan {
	int n_scales;
	struct nst_problem problems[NST_MAX_SCALES];
	int iterations[NST_MAX_SCALES];
	struct nst_options options[NST_MAX_SCALES]; /* each scale's: the backend resolved; scales after the
	                                               first start from the hand-over */
	bool tiled[NST_MAX_SCALES];                 /* the scale runs in tiles (tile_plans[i]) */
	struct nst_plan plans[NST_MAX_SCALES];      /* each scale's whole-picture plan */
	struct nst_tile_plan tile_plans[NST_MAX_SCALES]; /* the tiled scales' */
	bool detail;                  /* the hand-over adds the content's detail (init from the content) */
	size_t state_bytes;           /* the driver's state */
	size_t handover_bytes;        /* the two float pictures between scales, [H][W][3] each */
	size_t scale_bytes;           /* the largest scale's session or tiles, reused by every scale */
	size_t total_bytes;           /* the arena of nst_scales_init: state + hand-over + scale */
};

/* Every scale's plan, which scales run in tiles, and the one arena: NST_ERR_OVER_MEMORY_LIMIT
 * (with the diag's line) when a scale fits the budget not even in the smallest tiles. */
enum nst_status nst_scales_plan(const struct nst_weights *weights, const struct nst_options *options,
                                const struct nst_scales_options *scales_options, struct nst_scales_plan *plan,
                                struct nst_diag *diag);

struct nst_scales;

/* The driver in arena (at least plan.total_bytes, NST_ARENA_ALIGNMENT-aligned); no scale started.
 * The weights must stay open until the last scale has started (or see nst_scales_take_weights). */
enum nst_status nst_scales_init(void *arena, size_t arena_bytes, const struct nst_weights *weights,
                                const struct nst_scales_plan *plan, struct nst_scales **out, struct nst_diag *diag);
/* Stops the current scale's thread pool (and closes taken weights not closed yet).  The arena is
 * the caller's to free afterwards. */
void nst_scales_release(struct nst_scales *scales);
/* Hands the weights given to nst_scales_init over to the driver, which closes them as soon as the
 * last scale has packed them into the arena, before that scale's targets are computed: the file's
 * bytes and the largest scale's buffers are then never held at once.  The caller no longer closes
 * them. */
void nst_scales_take_weights(struct nst_scales *scales, struct nst_weights *weights);
/* Each scale's pictures at its problem's sizes, [H][W][3], kept by pointer until the run ends; the
 * style blend is the index's for every scale.  The starting picture (NST_INIT_IMAGE) is the first
 * scale's size. */
enum nst_status nst_scales_set_content(struct nst_scales *scales, int scale, const uint8_t *rgb);
enum nst_status nst_scales_set_style(struct nst_scales *scales, int scale, int index, const uint8_t *rgb, float blend);
enum nst_status nst_scales_set_init_image(struct nst_scales *scales, const uint8_t *rgb);

/* What the progress of a run of scales reports after every loss-log row. */
struct nst_scales_progress {
	struct nst_progress row;  /* the scale's (a tiled scale's rows numbered across its tiles) */
	int scale, n_scales;      /* 0-based */
	int width, height;        /* the scale's picture */
	bool tiled;
	int sweep, tile;          /* tiled: the tile being optimized (0-based) */
	int run_row;              /* the row across the whole run: the rows of the scales before + row.iteration */
	double run_seconds;       /* since the first scale started running */
};
typedef bool (*nst_scales_progress_fn)(void *user, const struct nst_scales_progress *progress);

/* Starts the next scale (the first on the first call): the previous one's picture handed over
 * (upsampled in float), its session or tiles released, the next built in the arena with its
 * content and style targets and its start (the options' init on the first scale, else the
 * hand-over).  NST_ERR_INVALID_ARGUMENT when no scale is left or a picture was not set. */
enum nst_status nst_scales_next(struct nst_scales *scales, struct nst_diag *diag);
/* Runs the started scale's iterations (a stop by the callback: NST_ERR_INTERRUPTED; a non-finite
 * loss: NST_ERR_NUMERIC, the last finite picture kept). */
enum nst_status nst_scales_run_scale(struct nst_scales *scales, nst_scales_progress_fn progress, void *user);
/* nst_scales_next and nst_scales_run_scale for every scale left, the current one first if it has
 * started and not ended (after nst_scales_next, an interruption or a checkpoint's load); stops
 * at the first failure. */
enum nst_status nst_scales_run(struct nst_scales *scales, nst_scales_progress_fn progress, void *user,
                               struct nst_diag *diag);
/* Where the run is: the scale (-1 before the first), and in a tiled scale the sweep and tile. */
void nst_scales_position(const struct nst_scales *scales, int *scale, int *sweep, int *tile);
/* The current scale's picture as 8-bit RGB [H][W][3] at that scale's size (also from the progress
 * callback). */
enum nst_status nst_scales_image(struct nst_scales *scales, uint8_t *rgb);
/* The current scale's session, NULL while none runs or the scale runs in tiles: its rows,
 * convergence, first gradient (nst_session_evaluate). */
struct nst_session *nst_scales_session(struct nst_scales *scales);
/* Loss rows of the run so far, over its scales (the rows a log of the run has). */
int nst_scales_rows(const struct nst_scales *scales);
/* Checkpoints of the current scale with its place in the run: as one session, as
 * nst_session_save_checkpoint / nst_session_load_checkpoint; in tiles, the whole picture as the
 * tiles before the running one left it (a tile's picture changes only when it ends), from which
 * that tile starts over.  A load, before the first nst_scales_next or after any, starts the
 * checkpoint's scale (its picture from the file, not handed over) and continues its rows and
 * seconds: nst_scales_run_scale then finishes that scale and nst_scales_next goes on from it.  A
 * checkpoint of another number of scales, another size at that scale, other tiles, or a scale
 * this plan runs the other way (whole / in tiles) is refused (NST_ERR_INVALID_ARGUMENT).  Once the last scale has started (the weights are
 * released), only a checkpoint of that scale loads. */
enum nst_status nst_scales_save_checkpoint(const struct nst_scales *scales, const char *path, struct nst_diag *diag);
enum nst_status nst_scales_load_checkpoint(struct nst_scales *scales, const char *path, struct nst_diag *diag);
/* What a checkpoint file is (the whole file checked against its CRC), so that the run resuming it
 * can be planned the same: its scale of how many, the picture's size there, and every scale's
 * tile side in the run that made it (0: as one session), which the memory available now may not
 * choose again. */
struct nst_checkpoint_info {
	int scale, n_scales;
	int width, height;
	int tile_sides[NST_MAX_SCALES];
};
enum nst_status nst_checkpoint_info(const char *path, struct nst_checkpoint_info *info, struct nst_diag *diag);

/* ---------------------------------------------------------------------------------------------
 * The common case in one call (src/stylize.c): a photo and a painting in memory, a picture out.
 *
 *     struct nst_stylize_options o;
 *     nst_stylize_options_default(&o);                 // the optimization, 256 px, 300 iterations
 *     o.weights = "/usr/local/share/nst/vgg19.nstw";
 *     struct nst_image out;
 *     if (nst_stylize(&o, &photo, &painting, &out, &diag) == NST_OK) ... nst_image_free(&out);
 *
 * It does what the command line does with the same options (the same pictures at the same sizes,
 * the same plan: the same pixels at the same thread count): nst -c -s (mode optimize, coarse to
 * fine above 256 px as nst_schedule_make says), nst --model FILE (trained) and nst --model
 * arbitrary -s (arbitrary).  Memory: the pictures at their run sizes (malloc, before planning),
 * then ONE allocation of the plan's arena, freed before returning; nothing else is allocated but
 * the result (and, in mode optimize, stb_image_resize's scratch between scales).  The detailed API
 * above remains for callers that bring their own memory, run many pictures on one plan (a video),
 * save checkpoints or tile.
 * ------------------------------------------------------------------------------------------- */

enum nst_mode {
	NST_MODE_OPTIMIZE = 0,  /* Gatys et al.'s optimization: weights is a VGG network (vgg19.nstw) */
	NST_MODE_TRAINED = 1,   /* a trained one-pass network (styles/candy.nstw): no painting */
	NST_MODE_ARBITRARY = 2  /* the arbitrary-style network (styles/arbitrary.nstw) and a painting */
};

/* The defaults of nst_stylize_options_default: the command line's. */
#define NST_STYLIZE_SIZE 256        /* the optimization's long side */
#define NST_STYLIZE_ITERATIONS 300  /* the optimization's iterations (of the first scale) */

struct nst_stylize_progress {
	int scale, n_scales;        /* optimize: the scale running (0-based) of how many; one pass: 0 of 1 */
	int iteration, iterations;  /* optimize: the scale's loss-log row (L-BFGS: one per evaluation, so it
	                               can pass `iterations`) and the scale's planned iterations; one pass:
	                               1 of 1 */
	double loss;                /* optimize: the row's total loss; one pass: 0 */
	double seconds;             /* since the run started */
	int step;                   /* optimize: the scale's iterations (optimizer steps) so far, of
	                               `iterations`: what a progress bar shows; one pass: 1 (after 0.2.0) */
};
/* Called after every loss-log row of the optimization, and once after a one-pass run; return
 * false to stop the optimization (nst_stylize then returns NST_ERR_INTERRUPTED with the picture
 * so far in out, at the result's size). */
typedef bool (*nst_stylize_progress_fn)(void *user, const struct nst_stylize_progress *progress);

struct nst_stylize_options {
	enum nst_mode mode;
	const char *weights;     /* the .nstw file of the mode's network (required) */
	int size;                /* the result's long side; 0: NST_STYLIZE_SIZE for optimize, the photo's own
	                            size for the one-pass networks */
	int style_size;          /* arbitrary: the painting's long side (0: the result's long side; a painting
	                            whose short side would fall below NST_ARBITRARY_MIN_PAINTING_SIDE gets
	                            longer); optimize: 0 (the painting is sized as the photo at every scale) */
	int iterations;          /* optimize: the first scale's iterations (0: NST_STYLIZE_ITERATIONS) */
	int threads;             /* 0: nst_cpu_count() */
	float strength;          /* one pass: 0..1, strength * stylized + (1 - strength) * photo (nst_fast_run's
	                          * strength, nst_arbitrary_run_mixed's; default 1) */
	nst_stylize_progress_fn progress; /* NULL: none */
	void *user;              /* passed to progress */
};

void nst_stylize_options_default(struct nst_stylize_options *options);
/* Stylizes photo (8-bit RGB [H][W][3]) with painting (optimize and arbitrary; NULL for a trained
 * network) into out, a new picture (free it with nst_image_free) whose long side is the size
 * asked.  out is zeroed on failure, except after NST_ERR_INTERRUPTED. */
enum nst_status nst_stylize(const struct nst_stylize_options *options, const struct nst_image *photo,
                            const struct nst_image *painting, struct nst_image *out, struct nst_diag *diag);
/* The size the arbitrary-style network runs a painting of width x height at: its long side
 * long_side, or longer where its short side would fall below NST_ARBITRARY_MIN_PAINTING_SIDE (at
 * most NST_MAX_IMAGE_SIDE / 2). */
void nst_arbitrary_painting_size(int width, int height, int long_side, int *out_width, int *out_height);

/* The library's version, NST_VERSION_STRING as the library was built ("0.2.0"): a program (or the
 * Python module) can refuse a library whose major.minor differs from the header it was written for. */
const char *nst_version_string(void);

/* An arena for a plan of `bytes` (its total_bytes): NST_ARENA_ALIGNMENT-aligned, the size rounded up
 * to that alignment as aligned_alloc wants (pass the plan's total_bytes to the init function); NULL
 * when it cannot be had.  Release it with nst_arena_free (or free). */
void *nst_arena_allocate(size_t bytes);
void nst_arena_free(void *arena);

/* A monotonic clock, in seconds (CLOCK_MONOTONIC): what the progress's seconds are measured with. */
double nst_seconds(void);

#ifdef __cplusplus
}
#endif

#endif /* NST_H */
