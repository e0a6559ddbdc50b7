# tt-alloc-replay: replays allocation traces through the library, as an
# ordinary writer: public headers only, public archive (see tt-smi).
$(BUILD)/obj/replay/tt_alloc_replay.o: INCLUDES = $(PUBLIC_INCLUDES)
$(BUILD)/obj/replay/tt_alloc_replay.o: ALL_CFLAGS += -DTT_ALLOC_REPLAY_VERSION='"$(TTA_VERSION)"'
$(BUILD)/tt-alloc-replay: $(BUILD)/obj/replay/tt_alloc_replay.o $(LIB_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)
PROGRAMS += $(BUILD)/tt-alloc-replay
