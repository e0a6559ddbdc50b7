/*
 * web_assets.h - the dashboard's files (exporter/web/), compiled into the
 * exporter by exporter/embed-web.sh. Read-only data; any thread.
 */
#ifndef TTA_EXPORTER_WEB_ASSETS_H
#define TTA_EXPORTER_WEB_ASSETS_H

#include <stddef.h>

struct tte_web_asset {
	const char *path;            /* "/app.js" */
	const unsigned char *data;
	size_t size;
};

extern const struct tte_web_asset tte_web_assets[];
extern const unsigned tte_web_asset_count;

#endif /* TTA_EXPORTER_WEB_ASSETS_H */
