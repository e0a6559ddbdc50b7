# tt-alloc-reaper: the daemon that reclaims the telemetry of dead processes.
# The systemd unit reaper/tt-alloc-reaper.service is installed by the
# top-level install target (it substitutes @PREFIX@).
REAPER_SRCS := $(wildcard reaper/*.c)
REAPER_OBJS := $(REAPER_SRCS:%.c=$(BUILD)/obj/%.o)

$(BUILD)/obj/reaper/reaper_main.o: ALL_CFLAGS += -DTT_ALLOC_REAPER_VERSION='"$(TTA_VERSION)"'

$(BUILD)/tt-alloc-reaper: $(REAPER_OBJS) $(LIBTRACK_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

PROGRAMS += $(BUILD)/tt-alloc-reaper
