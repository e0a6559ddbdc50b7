#!/usr/bin/env bash
# make install into a staging root, then build programs against the installed
# headers, library and pkg-config file alone, as a third-party tool author
# would: a small user program, and tt-smi and tt-alloc-replay from their own
# sources (which proves they need nothing private). The staged tt-smi must
# print the same --json as the in-tree one on a live segment. Also checks
# that the shared library and the static archive expose exactly the
# documented API, and that no private header is installed.
. "$(dirname "$0")/lib.sh"
src=$TTA_SRC
stage=$TTA_TMP/stage
prefix=/opt/tt-alloc

# Same build tree as the suite (plain or sanitized), so nothing is rebuilt.
case "$TTA_BUILD" in
*/asan) extra="SAN=address,undefined OPT=-O1"; user_cflags="-fsanitize=address,undefined";;
*) extra=""; user_cflags="";;
esac
if make -s -C "$src" BUILD="$TTA_BUILD" $extra install PREFIX=$prefix DESTDIR="$stage" >"$TTA_TMP/install.log" 2>&1; then
	pass install_succeeds
else
	fail install_succeeds "$(tail -5 "$TTA_TMP/install.log")"
fi
root=$stage$prefix
missing_files=""
for f in bin/tt-smi bin/tt-alloc-reaper bin/tt-alloc-replay bin/tt-alloc-exporter include/tt-alloc/tt_alloc.h \
	include/tt-alloc/reader.h include/tt-alloc/text.h lib/libttalloc.a lib/libttalloc.so.2 \
	lib/libttalloc.so lib/pkgconfig/tt-alloc.pc lib/systemd/system/tt-alloc-reaper.service \
	lib/systemd/system/tt-alloc-exporter.service; do
	[ -e "$root/$f" ] || missing_files="$missing_files $f"
done
[ -z "$missing_files" ] && pass installed_files_present || fail installed_files_present "missing:$missing_files"
# Nothing that could collide or leak the private layout: no header at the
# top of the include path, no private header, no library named libtrack.
stray=$(cd "$root" && { find include lib \( -name 'tta_*.h' -o -name 'libtrack*' \); ls include/tt_alloc.h 2>/dev/null; } | sort)
[ -z "$stray" ] && pass no_private_or_colliding_files || fail no_private_or_colliding_files "$stray"
check unit_points_at_prefix grep -q "ExecStart=$prefix/bin/tt-alloc-reaper" "$root/lib/systemd/system/tt-alloc-reaper.service"
check exporter_unit_points_at_prefix grep -q "^ExecStart=$prefix/bin/tt-alloc-exporter " "$root/lib/systemd/system/tt-alloc-exporter.service"

# The soname is versioned and only documented tta_ functions are exported,
# by the shared library and by the static archive alike.
soname=$(readelf -d "$root/lib/libttalloc.so.2" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libttalloc.so.2 ] && pass versioned_soname || fail versioned_soname "soname '$soname'"
documented=$(cat "$src"/include/tt-alloc/*.h | grep -o 'tta_[a-z_0-9]*(' | tr -d '(' | sort -u)
exported=$(nm -D --defined-only "$root/lib/libttalloc.so.2" | awk '$2 ~ /[TDBR]/ {print $3}' | sed 's/@.*//' | grep -v '^TTALLOC_' | sort)
undocumented=$(comm -23 <(echo "$exported") <(echo "$documented"))
[ -z "$undocumented" ] && pass only_documented_symbols_exported || fail only_documented_symbols_exported "$undocumented"
missing=$(comm -13 <(echo "$exported") <(echo "$documented"))
[ -z "$missing" ] && pass every_documented_function_exported || fail every_documented_function_exported "$missing"
static_globals=$(nm --defined-only -g "$root/lib/libttalloc.a" 2>/dev/null | awk 'NF == 3 && $2 ~ /[TDBRVW]/ {print $3}' | sort -u)
static_private=$(comm -23 <(echo "$static_globals") <(echo "$documented"))
[ -z "$static_private" ] && pass static_archive_exports_public_only || fail static_archive_exports_public_only "$static_private"

pc="$root/lib/pkgconfig/tt-alloc.pc"
sed -i "s|^prefix=.*|prefix=$root|" "$pc"
export PKG_CONFIG_PATH=$root/lib/pkgconfig
flags=$(pkg-config --cflags --libs tt-alloc)
static_flags="$(pkg-config --cflags tt-alloc) $root/lib/libttalloc.a $(pkg-config --static --libs-only-l tt-alloc | sed 's/-lttalloc//')"

# A user program, built only from what was installed.
cat >"$TTA_TMP/user.c" <<'C'
#include <stdio.h>
#include <tt-alloc/reader.h>
int main(void)
{
	tta_report_alloc(0, 0x1000, 4096, TTA_MEM_DRAM);
	tta_reader *r;
	char err[256];
	if (tta_reader_open(NULL, &r, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	tta_snapshot *s;
	if (tta_snapshot_take(r, 0, -1, 0, &s, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	printf("%lld\n", (long long)tta_snapshot_device(s, 0)->used[TTA_MEM_DRAM]);
	tta_snapshot_free(s);
	tta_reader_close(r);
	return 0;
}
C
if cc $user_cflags -o "$TTA_TMP/user" "$TTA_TMP/user.c" $flags 2>"$TTA_TMP/cc.log"; then
	pass builds_with_pkg_config
else
	fail builds_with_pkg_config "$(cat "$TTA_TMP/cc.log")"
fi
out=$(TT_ALLOC_TRACKING_ENABLED=1 LD_LIBRARY_PATH=$root/lib "$TTA_TMP/user" 2>&1)
[ "$out" = 4096 ] && pass installed_library_reports_and_reads || fail installed_library_reports_and_reads "output '$out'"

# tt-smi and tt-alloc-replay from their sources, with nothing but the staged
# headers (no -I into the source tree) and the staged archive.
tools=$TTA_TMP/tools
mkdir -p "$tools"
if cc $user_cflags -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -DTT_SMI_VERSION='"staged"' \
	-o "$tools/tt-smi" "$src"/smi/*.c $static_flags 2>"$TTA_TMP/smi.log"; then
	pass tt_smi_builds_from_installed_headers
else
	fail tt_smi_builds_from_installed_headers "$(head -20 "$TTA_TMP/smi.log")"
fi
if cc $user_cflags -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror \
	-o "$tools/tt-alloc-replay" "$src/replay/tt_alloc_replay.c" $static_flags -lm 2>"$TTA_TMP/replay.log"; then
	pass replay_builds_from_installed_headers
else
	fail replay_builds_from_installed_headers "$(head -20 "$TTA_TMP/replay.log")"
fi

# The exporter too: its own sources (and its compiled-in page), libmicrohttpd,
# and nothing of tt-alloc but what was installed.
if cc $user_cflags -std=gnu11 -D_GNU_SOURCE -Wall -Wextra -Werror -I"$src/exporter" \
	-o "$tools/tt-alloc-exporter" "$src"/exporter/*.c "$TTA_BUILD/gen/exporter/web_assets.c" \
	$(pkg-config --cflags --libs libmicrohttpd) $static_flags 2>"$TTA_TMP/exporter.log"; then
	pass exporter_builds_from_installed_headers
else
	fail exporter_builds_from_installed_headers "$(head -20 "$TTA_TMP/exporter.log")"
fi

# Both tools work: the staged replay writes a trace into the segment, and the
# staged tt-smi reads exactly what the in-tree tt-smi reads.
TT_ALLOC_TRACKING_ENABLED=1 "$tools/tt-alloc-replay" --hold "$src/tests/traces/small.trace" >"$TTA_TMP/replay.out" 2>&1 &
replay_pid=$!
# Compare once the whole trace is in (the replay says so before it holds).
wait_for 20 grep -q "holding" "$TTA_TMP/replay.out" || fail replay_holds "$(cat "$TTA_TMP/replay.out")"
"$tools/tt-smi" --json --buffers >"$TTA_TMP/staged.json" 2>"$TTA_TMP/staged.err"
"$TTA_BUILD/tt-smi" --json --buffers >"$TTA_TMP/intree.json" 2>"$TTA_TMP/intree.err"
kill "$replay_pid" 2>/dev/null
wait "$replay_pid" 2>/dev/null
if python3 - "$TTA_TMP/staged.json" "$TTA_TMP/intree.json" <<'PY'
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
def strip(d):
    # Moments and the tool's own version differ between two runs; ages grow.
    d.pop("timestamp_ns", None); d.pop("tool", None)
    d["segment"]["reaper"].pop("heartbeat_age_ms", None)
    for b in d.get("buffers", []): b.pop("age_ns", None)
    return d
sa, sb = strip(a), strip(b)
if sa != sb:
    print(json.dumps(sa, sort_keys=True)[:2000]); print(json.dumps(sb, sort_keys=True)[:2000]); sys.exit(1)
if not sa["processes"] or not sa.get("buffers"):
    print("nothing was read"); sys.exit(1)
PY
then
	pass staged_tt_smi_json_equals_in_tree
else
	fail staged_tt_smi_json_equals_in_tree "$(cat "$TTA_TMP/staged.err" "$TTA_TMP/intree.err"; diff "$TTA_TMP/staged.json" "$TTA_TMP/intree.json" | head -30)"
fi
exit $tta_failed
