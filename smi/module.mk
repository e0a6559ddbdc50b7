# tt-smi: the command-line viewer. render.o is kept separate so tests (and a
# future fuzz harness) can link the renderers without the CLI.
SMI_OBJS := $(BUILD)/obj/smi/tt_smi.o $(BUILD)/obj/smi/render.o

$(BUILD)/obj/smi/tt_smi.o: ALL_CFLAGS += -DTT_SMI_VERSION='"$(LIBTRACK_VERSION)"'

$(BUILD)/tt-smi: $(SMI_OBJS) $(LIBTRACK_A)
	$(CC) -o $@ $^ $(LDLIBS_ALL)

# C tests of the renderers link render.o as well.
$(BUILD)/tests/test_smi_render: tests/test_smi_render.c tests/tta_test.h smi/render.h \
		$(BUILD)/obj/smi/render.o $(LIBTRACK_A)
	@mkdir -p $(@D)
	$(CC) $(ALL_CFLAGS) -Itests -Ismi $< -o $@ $(BUILD)/obj/smi/render.o $(LIBTRACK_A) $(LDLIBS_ALL)

PROGRAMS += $(BUILD)/tt-smi
