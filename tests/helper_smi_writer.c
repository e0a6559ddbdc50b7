/*
 * helper_smi_writer - a scriptable instrumented process for tt-smi's tests.
 *
 * Runs each command-line argument as a command, prints "ready", then runs
 * commands read from stdin, one a line, until EOF or "exit". Each argument
 * or line is one command (words separated by spaces):
 *
 *   register DEV [wormhole|blackhole] [CORES]   tta_register_device
 *   alloc DEV ADDR SIZE TYPE                    tta_report_alloc (TYPE: name or number)
 *   free DEV ADDR                               tta_report_free
 *   cb DEV ID SIZE / cbfree DEV ID              circular buffers
 *   kernel DEV ID SIZE [KIND]                   tta_report_kernel_load
 *   name TEXT                                   process name (\xHH escapes), before attaching
 *   tag [TEXT]                                  tta_set_tag (\xHH escapes; none: clear)
 *   detach                                      tta_track_detach, prints "detached N"
 *   echo WORD                                   prints WORD (tests sync on it)
 *   exit [STATUS]
 *
 * Numbers accept 0x prefixes. A malformed command prints "error: ..." and the
 * helper exits 3, so a broken test script shows up at once. Tracking needs
 * TT_ALLOC_TRACKING_ENABLED=1 in the environment, as for any writer.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

#include "tt-alloc/reader.h"

static void die(const char *what, const char *line)
{
	printf("error: %s: %s\n", what, line);
	fflush(stdout);
	exit(3);
}

static uint64_t number(const char *word, const char *line)
{
	char *end;
	if (!word)
		die("missing number", line);
	errno = 0;
	unsigned long long v = strtoull(word, &end, 0);
	if (errno || end == word || *end)
		die("bad number", line);
	return (uint64_t)v;
}

/* Decodes \xHH and \\ so tests can give names with any byte. */
static void unescape(const char *in, char *out, size_t outlen)
{
	size_t o = 0;
	for (size_t i = 0; in[i] && o + 1 < outlen; i++) {
		if (in[i] == '\\' && in[i + 1] == 'x' && in[i + 2] && in[i + 3]) {
			char hex[3] = { in[i + 2], in[i + 3], 0 };
			out[o++] = (char)strtoul(hex, NULL, 16);
			i += 3;
		} else if (in[i] == '\\' && in[i + 1] == '\\') {
			out[o++] = '\\';
			i++;
		} else {
			out[o++] = in[i];
		}
	}
	out[o] = '\0';
}

static void run(char *line)
{
	char copy[512];
	snprintf(copy, sizeof copy, "%s", line);
	line[strcspn(line, "\r\n")] = '\0';
	char *save = NULL;
	char *cmd = strtok_r(line, " ", &save);
	if (!cmd)
		return;
	char *a1 = strtok_r(NULL, " ", &save);
	char *a2 = strtok_r(NULL, " ", &save);
	char *a3 = strtok_r(NULL, " ", &save);
	char *a4 = strtok_r(NULL, " ", &save);

	if (!strcmp(cmd, "register")) {
		struct tta_device_info info;
		uint32_t cores = a3 ? (uint32_t)number(a3, copy) : 80;
		if (a2 && !strcmp(a2, "blackhole"))
			tta_device_info_blackhole(&info, cores);
		else if (!a2 || !strcmp(a2, "wormhole"))
			tta_device_info_wormhole_b0(&info, cores);
		else
			die("unknown arch", copy);
		int rc = tta_register_device((uint32_t)number(a1, copy), &info);
		if (rc < 0)
			die("register failed", copy);
	} else if (!strcmp(cmd, "alloc")) {
		int type = a4 ? tta_mem_type_parse(a4) : -1;
		if (type < 0)
			type = (int)number(a4, copy);
		tta_report_alloc((uint32_t)number(a1, copy), number(a2, copy), number(a3, copy),
				 (enum tta_mem_type)type);
	} else if (!strcmp(cmd, "free")) {
		tta_report_free((uint32_t)number(a1, copy), number(a2, copy));
	} else if (!strcmp(cmd, "cb")) {
		tta_report_cb_alloc((uint32_t)number(a1, copy), number(a2, copy), number(a3, copy));
	} else if (!strcmp(cmd, "cbfree")) {
		tta_report_cb_free((uint32_t)number(a1, copy), number(a2, copy));
	} else if (!strcmp(cmd, "kernel")) {
		tta_report_kernel_load((uint32_t)number(a1, copy), number(a2, copy),
				       number(a3, copy),
				       a4 ? (enum tta_kernel_kind)number(a4, copy)
					  : TTA_KERNEL_APPLICATION);
	} else if (!strcmp(cmd, "name")) {
		char name[64];
		unescape(a1 ? a1 : "", name, sizeof name);
		if (prctl(PR_SET_NAME, name, 0, 0, 0) != 0)
			die("prctl", copy);
	} else if (!strcmp(cmd, "tag")) {
		char tag[64];
		unescape(a1 ? a1 : "", tag, sizeof tag);
		if (tta_set_tag(tag) < 0)
			die("tag refused", copy);
	} else if (!strcmp(cmd, "detach")) {
		printf("detached %ld\n", tta_track_detach());
	} else if (!strcmp(cmd, "echo")) {
		printf("%s\n", a1 ? a1 : "");
	} else if (!strcmp(cmd, "exit")) {
		fflush(stdout);
		exit(a1 ? (int)number(a1, copy) : 0);
	} else {
		die("unknown command", copy);
	}
	fflush(stdout);
}

int main(int argc, char **argv)
{
	char line[512];
	for (int i = 1; i < argc; i++) {
		snprintf(line, sizeof line, "%s", argv[i]);
		run(line);
	}
	printf("ready\n");
	fflush(stdout);
	while (fgets(line, sizeof line, stdin))
		run(line);
	return 0;
}
