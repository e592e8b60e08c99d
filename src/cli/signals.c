/*
 * Stopping a run cleanly (src/cli/cli.h): SIGINT, SIGTERM and SIGHUP (a closed SSH session or
 * tmux pane) are recorded and the run stops at its next step, writing what it has; a second one
 * ends the process at once.  Writing a file blocks them, so that a file is never left half
 * written or as a temporary.  Also: standard input, output and error always open.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

#include "cli.h"

static const int STOP_SIGNALS[] = {SIGINT, SIGTERM, SIGHUP};
#define N_STOP_SIGNALS (int)(sizeof STOP_SIGNALS / sizeof STOP_SIGNALS[0])

/* The one piece of process-wide state: set by the handler, read by the run's progress. */
static volatile sig_atomic_t g_stop_signal;

static void on_stop(int sig) {
	if (!g_stop_signal)
		g_stop_signal = sig;
}

void cli_signals_install(void) {
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	for (int i = 0; i < N_STOP_SIGNALS; i++)
		sigaddset(&sa.sa_mask, STOP_SIGNALS[i]);
	/* Back to the default after the first: the second Ctrl-C ends the process at once. */
	sa.sa_flags = SA_RESETHAND;
	for (int i = 0; i < N_STOP_SIGNALS; i++) {
		struct sigaction old;
		/* Under nohup, SIGHUP stays ignored.  (SIGINT is taken even when ignored, as a background
		 * job's is: `kill -INT` stops it as Ctrl-C does.) */
		if (STOP_SIGNALS[i] == SIGHUP && sigaction(SIGHUP, NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(STOP_SIGNALS[i], &sa, NULL);
	}
}

int cli_stop_signal(void) { return g_stop_signal; }

const char *cli_signal_name(int sig) {
	switch (sig) {
	case SIGINT:
		return "SIGINT";
	case SIGTERM:
		return "SIGTERM";
	case SIGHUP:
		return "SIGHUP";
	default:
		return "a stop signal";
	}
}

void cli_signals_block(sigset_t *old) {
	sigset_t set;
	sigemptyset(&set);
	for (int i = 0; i < N_STOP_SIGNALS; i++)
		sigaddset(&set, STOP_SIGNALS[i]);
	pthread_sigmask(SIG_BLOCK, &set, old);
}

void cli_signals_restore(const sigset_t *old) { pthread_sigmask(SIG_SETMASK, old, NULL); }

void cli_standard_fds(void) {
	/* A reader that goes away (nst ... -o - | head -c 100) is a write error (EPIPE), reported in one
	 * line with exit 1, never a silent death by SIGPIPE. */
	struct sigaction ignore = {.sa_handler = SIG_IGN};
	sigemptyset(&ignore.sa_mask);
	sigaction(SIGPIPE, &ignore, NULL);
	for (int fd = STDIN_FILENO; fd <= STDERR_FILENO; fd++) {
		if (fcntl(fd, F_GETFD) != -1 || errno != EBADF)
			continue;
		/* The lowest free descriptor: fd itself, as the ones below it are open. */
		const int got = open("/dev/null", fd == STDIN_FILENO ? O_RDONLY : O_WRONLY);
		if (got >= 0 && got != fd) {
			dup2(got, fd);
			close(got);
		}
	}
}
