/* Entry points of the command line's modes (src/cli/). */
#ifndef NST_CLI_H
#define NST_CLI_H

/* Feed-forward mode (src/cli/fast.c): `nst --model NAME|FILE.nstw -c PHOTO ... -o OUT [options]`.
 * Takes the whole command line (argv[0] is the program) and returns the process's exit code:
 * 0 done, 1 a file or run failed, 2 usage, 3 memory. */
int nst_cli_fast(int argc, char **argv);

#endif /* NST_CLI_H */
