# tt-alloc-bridge: the old allocation server's socket protocol served from
# and into the segment (bridge/bridge.h). Reuses the baseline's wire header
# bench/sock_proto.h and its connect helper (bench/sock_client.c).
# The systemd unit bridge/tt-alloc-bridge.service is installed by the
# top-level install target (it substitutes @PREFIX@).
BRIDGE_SRCS := $(wildcard bridge/*.c)
BRIDGE_OBJS := $(BRIDGE_SRCS:%.c=$(BUILD)/obj/%.o) $(BUILD)/obj/bench/sock_client.o

$(BUILD)/obj/bridge/bridge_main.o: ALL_CFLAGS += -DTT_ALLOC_BRIDGE_VERSION='"$(TTA_VERSION)"'

$(BUILD)/tt-alloc-bridge: $(BRIDGE_OBJS) $(LIBTRACK_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

PROGRAMS += $(BUILD)/tt-alloc-bridge
