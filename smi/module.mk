# tt-smi: the command-line viewer. A tool like any third-party one: it sees
# only the public headers (include/tt-alloc/) and links the public archive,
# which test_install.sh proves by building it from an installed prefix.
# Every smi/*.c but tt_smi.c (the command line) is a part the C tests and the
# fuzz harness link too.
SMI_PART_SRCS := $(filter-out smi/tt_smi.c,$(wildcard smi/*.c))
SMI_PART_OBJS := $(SMI_PART_SRCS:%.c=$(BUILD)/obj/%.o)
SMI_OBJS := $(BUILD)/obj/smi/tt_smi.o $(SMI_PART_OBJS)

$(SMI_OBJS): INCLUDES = $(PUBLIC_INCLUDES)
$(BUILD)/obj/smi/tt_smi.o: ALL_CFLAGS += -DTT_SMI_VERSION='"$(TTA_VERSION)"'

$(BUILD)/tt-smi: $(SMI_OBJS) $(LIB_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# C tests of the renderers and views link the parts as well.
$(BUILD)/tests/test_smi_render $(BUILD)/tests/test_smi_views: $(BUILD)/tests/%: tests/%.c \
		tests/tta_test.h $(wildcard smi/*.h) $(SMI_PART_OBJS) $(LIBTRACK_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -Ismi $< -o $@ $(SMI_PART_OBJS) $(LIBTRACK_A) $(LDLIBS_ALL)

PROGRAMS += $(BUILD)/tt-smi
