#include <stdio.h>

#include "internal.h"

const char *nst_version_string(void) { return NST_VERSION_STRING; }

const char *nst_status_string(enum nst_status status) {
	switch (status) {
	case NST_OK: return "success";
	case NST_ERR_INVALID_ARGUMENT: return "invalid argument";
	case NST_ERR_IO: return "input/output error";
	case NST_ERR_NOT_AN_IMAGE: return "not a readable picture";
	case NST_ERR_IMAGE_TOO_LARGE: return "picture too large";
	case NST_ERR_WEIGHTS_FORMAT: return "not a valid weights file";
	case NST_ERR_WEIGHTS_VERSION: return "unsupported weights file version";
	case NST_ERR_WEIGHTS_CHECKSUM: return "weights file checksum mismatch";
	case NST_ERR_UNKNOWN_LAYER: return "unknown layer";
	case NST_ERR_LAYER_NOT_IN_WEIGHTS: return "layer not in the weights";
	case NST_ERR_OUT_OF_MEMORY: return "out of memory";
	case NST_ERR_OVER_MEMORY_LIMIT: return "over the memory limit";
	case NST_ERR_NUMERIC: return "loss is not finite";
	case NST_ERR_INTERRUPTED: return "interrupted";
	case NST_ERR_UNSUPPORTED: return "not supported here";
	case NST_STATUS_COUNT: break;
	}
	return "unknown status";
}

enum nst_status nst_fail(struct nst_diag *diag, enum nst_status status, const char *fmt, ...) {
	if (diag) {
		va_list ap;
		va_start(ap, fmt);
		vsnprintf(diag->message, sizeof diag->message, fmt, ap);
		va_end(ap);
		// The message is one printable line even when it quotes a file's bytes (a layer or model
		// name, stb's reason naming a PNG chunk): control characters, a newline or a terminal
		// escape among them, become '?'.
		for (char *c = diag->message; *c; c++) {
			if ((unsigned char)*c < ' ' || *c == '\x7f') *c = '?';
		}
	}
	return status;
}
