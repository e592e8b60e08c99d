/* The optimizer interface (src/optimizer.h): which optimizer the options ask for. */
#include "optimizer.h"

void nst_optim_setup(struct nst_optim *opt, enum nst_optimizer kind, size_t n, float learning_rate, int history,
                     bool line_search) {
	opt->ops = kind == NST_OPTIMIZER_ADAM ? &nst_optim_adam : &nst_optim_lbfgs;
	opt->n = n;
	opt->learning_rate = learning_rate != 0.0f ? learning_rate : opt->ops->default_learning_rate;
	opt->history = history;
	opt->line_search = line_search;
	opt->state = NULL;
}
