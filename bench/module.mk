# Benchmark: tt-alloc-bench and its socket baseline server (docs/bench.md).
#   make bench                 the default run (under two minutes on 2 cores)
#   build/tt-alloc-bench --quick --json   small run; make check does this
BENCH_OBJS := $(addprefix $(BUILD)/obj/bench/,bench_main.o bench_util.o bench_writers.o \
                bench_ck.o bench_sources.o bench_sites.o bench_history.o bench_bridge.o \
                bench_workload.o bench_growth.o counters_shm.o sock_client.o \
                bench_exporter.o) $(BUILD)/obj/exporter/metrics.o
SOCKET_SERVER_OBJS := $(addprefix $(BUILD)/obj/bench/,socket_server.o sock_client.o)

# Section l times the exporter's own metrics writer (exporter/metrics.c).
$(BUILD)/obj/bench/bench_exporter.o: INCLUDES = $(PUBLIC_INCLUDES) -Ishm -Ilibtrack -Iexporter

$(BUILD)/tt-alloc-bench: $(BENCH_OBJS) $(LIBTRACK_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL) -lm

$(BUILD)/tt-alloc-socket-server: $(SOCKET_SERVER_OBJS)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# The replay tool's own object, reporting through the old socket protocol
# (bench/replay_socket.c) instead of libtrack: section n's socket baseline.
# replay_socket.o defines every report call, so the archive's track.o is not
# linked; the rest (names, text) comes from the archive.
$(BUILD)/tt-alloc-replay-socket: $(BUILD)/obj/replay/tt_alloc_replay.o \
		$(BUILD)/obj/bench/replay_socket.o $(BUILD)/obj/bench/sock_client.o $(LIBTRACK_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

PROGRAMS += $(BUILD)/tt-alloc-bench $(BUILD)/tt-alloc-socket-server $(BUILD)/tt-alloc-replay-socket

# The table goes to the terminal; the same figures go to $(BUILD)/bench.json.
bench: all
	$(BUILD)/tt-alloc-bench --json-out $(BUILD)/bench.json
