/*
 * replay_socket.c - BASELINE reporting for tt-alloc-replay: the report calls
 * of <tt-alloc/tt_alloc.h>, implemented as the old AllocationClient did them
 * (one ALLOC or FREE message per report, one blocking send each, on one
 * connection to the socket server). Linked with the unchanged replay object
 * into build/tt-alloc-replay-socket, so section n of the bench replays the
 * same trace, parsed by the same code, through tt-alloc or through the
 * socket baseline. Not part of tt-alloc.
 *
 * The server is named by TTA_BENCH_SOCKET. The old protocol carries buffers
 * only: circular buffers, kernel binaries and SYSTEM_MEMORY buffers send
 * nothing (the old client did not report them either), which the bench
 * notes. Before the process exits, a QUERY round trip makes sure the server
 * applied every report, so the replay's wall time covers the server's work.
 */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "sock_proto.h"
#include "tt-alloc/tt_alloc.h"

static struct sock_client client;
static int state; /* 0 not connected, 1 connected, -1 failed */

static void finish(void)
{
	if (state == 1) {
		(void)sock_client_query(&client, 0, NULL);
		sock_client_close(&client);
	}
	state = 0;
}

static bool connected(void)
{
	if (state == 0) {
		const char *path = getenv("TTA_BENCH_SOCKET");
		state = path != NULL && sock_client_open(&client, path) == 0 ? 1 : -1;
		if (state == 1)
			atexit(finish);
		else
			fprintf(stderr, "replay-socket: cannot connect to $TTA_BENCH_SOCKET\n");
	}
	return state == 1;
}

void tta_report_alloc(uint32_t device, uint64_t address, uint64_t size, enum tta_mem_type type)
{
	int t = sock_type_from_tta((unsigned)type);
	if (t >= 0 && connected())
		(void)sock_client_alloc(&client, (int)device, address, size, t);
}

void tta_report_free(uint32_t device, uint64_t address)
{
	if (connected())
		(void)sock_client_free(&client, (int)device, address);
}

void tta_report_cb_alloc(uint32_t device, uint64_t cb_id, uint64_t size)
{
	(void)device;
	(void)cb_id;
	(void)size;
}

void tta_report_cb_free(uint32_t device, uint64_t cb_id)
{
	(void)device;
	(void)cb_id;
}

void tta_report_kernel_load(uint32_t device, uint64_t kernel_id, uint64_t size,
			    enum tta_kernel_kind kind)
{
	(void)device;
	(void)kernel_id;
	(void)size;
	(void)kind;
}

int tta_register_device(uint32_t device, const struct tta_device_info *info)
{
	(void)device;
	(void)info;
	return 0;
}

enum tta_track_state tta_track_state(void)
{
	return state < 0 ? TTA_TRACK_DISABLED : TTA_TRACK_ATTACHED;
}

long tta_track_detach(void)
{
	finish();
	return 0;
}
