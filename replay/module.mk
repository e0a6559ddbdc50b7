# tt-alloc-replay: replays allocation traces through libtrack (see the top of
# replay/tt_alloc_replay.c for the trace format).
$(BUILD)/obj/replay/tt_alloc_replay.o: ALL_CFLAGS += -DTT_ALLOC_REPLAY_VERSION='"$(LIBTRACK_VERSION)"'
$(BUILD)/tt-alloc-replay: $(BUILD)/obj/replay/tt_alloc_replay.o $(LIBTRACK_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)
PROGRAMS += $(BUILD)/tt-alloc-replay
