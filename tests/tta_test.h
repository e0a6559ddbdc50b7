/*
 * tta_test.h - the tiny harness every C test in tests/ uses.
 *
 * A test file defines cases with TTA_TEST(name) { ... } and lists them in
 * TTA_TEST_MAIN(case1, case2, ...). Each case runs in a forked child so a
 * crash fails that case only; it gets its own segment name in $TT_ALLOC_SHM
 * (never the default segment), removed afterwards. Output per case:
 *   PASS name            or        FAIL name: file:line: message
 * tests/run-suite.sh adds these up into "N passed, N failed".
 */
#ifndef TTA_TEST_H
#define TTA_TEST_H

#include <dirent.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

typedef void (*tta_test_fn)(void);
struct tta_test_case {
	const char *name;
	tta_test_fn fn;
};

#define TTA_TEST(name) static void name(void)

#define CHECK(cond, ...)                                                       \
	do {                                                                   \
		if (!(cond)) {                                                 \
			fprintf(stderr, "FAIL-DETAIL %s:%d: %s: ", __FILE__, __LINE__, #cond); \
			fprintf(stderr, __VA_ARGS__);                          \
			fprintf(stderr, "\n");                                 \
			_exit(1);                                              \
		}                                                              \
	} while (0)

#define CHECK_EQ_I64(a, b)                                                     \
	do {                                                                   \
		int64_t _a = (int64_t)(a), _b = (int64_t)(b);                  \
		CHECK(_a == _b, "%s = %" PRId64 ", %s = %" PRId64, #a, _a, #b, _b); \
	} while (0)

/* Name of this case's private segment (set before each case runs). */
static char tta_test_segment[64];

static inline void tta_test_unlink_segment(void)
{
	shm_unlink(tta_test_segment);
}

/* A writer a case killed while it created the case's segment leaves its
 * temporary ("NAME.init.PID.HEX"); the library sweeps those only when NAME
 * is created again, which a case's unique name never is. */
static inline void tta_test_unlink_temporaries(void)
{
	char prefix[160];
	int plen = snprintf(prefix, sizeof prefix, "%s.init.", tta_test_segment + 1);
	DIR *dir = opendir("/dev/shm");
	if (dir == NULL)
		return;
	struct dirent *e;
	while ((e = readdir(dir)) != NULL) {
		if (strncmp(e->d_name, prefix, (size_t)plen) != 0)
			continue;
		char victim[320];
		snprintf(victim, sizeof victim, "/%s", e->d_name);
		shm_unlink(victim);
	}
	closedir(dir);
}

static inline int tta_test_run_all(const char *file, const struct tta_test_case *cases, int n,
				   int argc, char **argv)
{
	int failed = 0, passed = 0;
	(void)file;
	for (int i = 0; i < n; i++) {
		if (argc > 1 && strstr(cases[i].name, argv[1]) == NULL)
			continue;
		snprintf(tta_test_segment, sizeof tta_test_segment, "/tta_test_%d_%d",
			 (int)getpid(), i);
		setenv("TT_ALLOC_SHM", tta_test_segment, 1);
		fflush(NULL);
		pid_t pid = fork();
		if (pid == 0) {
			/* A hung case fails alone instead of stalling the suite. */
			const char *limit = getenv("TTA_CASE_TIMEOUT");
			alarm(limit ? (unsigned)atoi(limit) : 120u);
			cases[i].fn();
			fflush(NULL);
			_exit(0);
		}
		int status = 0;
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
		}
		shm_unlink(tta_test_segment);
		tta_test_unlink_temporaries();
		if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
			printf("PASS %s\n", cases[i].name);
			passed++;
		} else {
			if (WIFSIGNALED(status))
				printf("FAIL %s: killed by signal %d\n", cases[i].name,
				       WTERMSIG(status));
			else
				printf("FAIL %s: exit status %d\n", cases[i].name,
				       WEXITSTATUS(status));
			failed++;
		}
		fflush(stdout);
	}
	(void)passed;
	return failed ? 1 : 0;
}

#define TTA_CASE(fn) { #fn, fn }
#define TTA_TEST_MAIN(...)                                                     \
	int main(int argc, char **argv)                                        \
	{                                                                      \
		static const struct tta_test_case cases[] = { __VA_ARGS__ };   \
		return tta_test_run_all(__FILE__, cases,                       \
					(int)(sizeof cases / sizeof cases[0]), argc, argv); \
	}

#endif /* TTA_TEST_H */
