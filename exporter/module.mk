# tt-alloc-exporter: Prometheus metrics and the live web dashboard
# (exporter/http.h). A tool like tt-smi: it sees only the public headers
# (include/tt-alloc/) and links the public archive. The HTTP server is
# Debian's libmicrohttpd (libmicrohttpd-dev). The dashboard's files
# (exporter/web/) are compiled in by exporter/embed-web.sh (xxd -i).
# The systemd unit exporter/tt-alloc-exporter.service is installed by the
# top-level install target (it substitutes @PREFIX@).
EXPORTER_WEB  := $(sort $(wildcard exporter/web/*))
EXPORTER_OBJS := $(addprefix $(BUILD)/obj/exporter/,exporter_main.o http.o metrics.o periodic.o source.o sse.o) \
                 $(BUILD)/obj/exporter/web_assets.o
MHD_CFLAGS := $(shell pkg-config --cflags libmicrohttpd 2>/dev/null)
MHD_LIBS   := $(shell pkg-config --libs libmicrohttpd 2>/dev/null || echo -lmicrohttpd)

$(EXPORTER_OBJS): INCLUDES = $(PUBLIC_INCLUDES) -Iexporter
$(BUILD)/obj/exporter/http.o $(BUILD)/obj/exporter/sse.o: ALL_CFLAGS += $(MHD_CFLAGS)
$(BUILD)/obj/exporter/exporter_main.o: ALL_CFLAGS += -DTT_ALLOC_EXPORTER_VERSION='"$(TTA_VERSION)"'

$(BUILD)/gen/exporter/web_assets.c: $(EXPORTER_WEB) exporter/embed-web.sh
	@mkdir -p $(@D)
	exporter/embed-web.sh $@ $(EXPORTER_WEB)

$(BUILD)/obj/exporter/web_assets.o: $(BUILD)/gen/exporter/web_assets.c exporter/web_assets.h
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -c $< -o $@

$(BUILD)/tt-alloc-exporter: $(EXPORTER_OBJS) $(LIB_A)
	$(CC) -o $@ $^ $(MHD_LIBS) $(LDLIBS_ALL)

PROGRAMS += $(BUILD)/tt-alloc-exporter
