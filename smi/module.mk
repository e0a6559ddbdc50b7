# tt-smi: the command-line viewer. A tool like any third-party one: it sees
# only the public headers (include/tt-alloc/) and links the public archive,
# which test_install.sh proves by building it from an installed prefix.
SMI_OBJS := $(BUILD)/obj/smi/tt_smi.o $(BUILD)/obj/smi/render.o $(BUILD)/obj/smi/stream.o \
            $(BUILD)/obj/smi/telemetry_view.o

$(SMI_OBJS): INCLUDES = $(PUBLIC_INCLUDES)
$(BUILD)/obj/smi/tt_smi.o: ALL_CFLAGS += -DTT_SMI_VERSION='"$(TTA_VERSION)"'

$(BUILD)/tt-smi: $(SMI_OBJS) $(LIB_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# C tests of the renderers link render.o as well.
$(BUILD)/tests/test_smi_render: tests/test_smi_render.c tests/tta_test.h smi/render.h \
		$(BUILD)/obj/smi/render.o $(BUILD)/obj/smi/telemetry_view.o $(LIBTRACK_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -Ismi $< -o $@ $(BUILD)/obj/smi/render.o \
		$(BUILD)/obj/smi/telemetry_view.o $(LIBTRACK_A) $(LDLIBS_ALL)

PROGRAMS += $(BUILD)/tt-smi
