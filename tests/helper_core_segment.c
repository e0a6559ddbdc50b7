/*
 * helper_core_segment - creates the segment $TT_ALLOC_SHM with the core
 * regions only, as a creator from before history, events and peaks made
 * it (ABI 2 without regions 8-10), so tools can be tested against one.
 * Exit 0 created, 1 error (message on stderr).
 */
#include <stdio.h>

#include "tta_segment.h"

int main(void)
{
	char err[TTA_ERR_MAX];
	struct tta_create_params p;
	if (tta_create_params_from_env(&p, err, sizeof err) != 0) {
		fprintf(stderr, "helper_core_segment: %s\n", err);
		return 1;
	}
	p.core_only = true;
	struct tta_segment seg;
	if (tta_segment_open(NULL, TTA_OPEN_CREATE, &p, &seg, err, sizeof err) != 0) {
		fprintf(stderr, "helper_core_segment: %s\n", err);
		return 1;
	}
	tta_segment_close(&seg);
	return 0;
}
