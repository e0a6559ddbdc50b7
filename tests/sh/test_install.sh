#!/usr/bin/env bash
# make install into a staging root, then build and run a program against the
# installed header, library and pkg-config file, as a user of libtrack would.
# Also checks that libtrack.so exports exactly the documented API.
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
for f in bin/tt-smi bin/tt-alloc-reaper bin/tt-alloc-replay include/tt_alloc.h lib/libtrack.a \
	lib/libtrack.so.1 lib/libtrack.so lib/pkgconfig/libtrack.pc lib/systemd/system/tt-alloc-reaper.service; do
	[ -e "$root/$f" ] || fail "installed_$f" "missing $root/$f"
done
pass installed_files_present
check unit_points_at_prefix grep -q "ExecStart=$prefix/bin/tt-alloc-reaper" "$root/lib/systemd/system/tt-alloc-reaper.service"

# The soname is versioned and only documented tta_ functions are exported.
soname=$(readelf -d "$root/lib/libtrack.so.1" | sed -n 's/.*SONAME.*\[\(.*\)\]/\1/p')
[ "$soname" = libtrack.so.1 ] && pass versioned_soname || fail versioned_soname "soname '$soname'"
exported=$(nm -D --defined-only "$root/lib/libtrack.so.1" | awk '$2 ~ /[TDBR]/ {print $3}' | sed 's/@.*//' | grep -v '^TTALLOC_' | sort)
documented=$(grep -o 'tta_[a-z_0-9]*(' "$src/libtrack/tt_alloc.h" | tr -d '(' | sort -u)
undocumented=$(comm -23 <(echo "$exported") <(echo "$documented"))
[ -z "$undocumented" ] && pass only_documented_symbols_exported || fail only_documented_symbols_exported "$undocumented"
missing=$(comm -13 <(echo "$exported") <(echo "$documented"))
[ -z "$missing" ] && pass every_documented_function_exported || fail every_documented_function_exported "$missing"

# A user program, built only from what was installed.
cat >"$TTA_TMP/user.c" <<'C'
#include <stdio.h>
#include <tt_alloc.h>
int main(void)
{
	tta_report_alloc(0, 0x1000, 4096, TTA_MEM_DRAM);
	tta_reader *r;
	char err[256];
	if (tta_reader_open(NULL, &r, err, sizeof err) != 0) {
		fprintf(stderr, "%s\n", err);
		return 2;
	}
	struct tta_device_view v;
	tta_reader_device(r, 0, &v);
	printf("%lld\n", (long long)v.used[TTA_MEM_DRAM]);
	tta_reader_close(r);
	return 0;
}
C
pc="$root/lib/pkgconfig/libtrack.pc"
sed -i "s|^prefix=.*|prefix=$root|" "$pc"
flags=$(PKG_CONFIG_PATH=$root/lib/pkgconfig pkg-config --cflags --libs libtrack)
if cc $user_cflags -o "$TTA_TMP/user" "$TTA_TMP/user.c" $flags 2>"$TTA_TMP/cc.log"; then
	pass builds_with_pkg_config
else
	fail builds_with_pkg_config "$(cat "$TTA_TMP/cc.log")"
fi
out=$(TT_ALLOC_TRACKING_ENABLED=1 LD_LIBRARY_PATH=$root/lib "$TTA_TMP/user" 2>&1)
[ "$out" = 4096 ] && pass installed_library_reports_and_reads || fail installed_library_reports_and_reads "output '$out'"
exit $tta_failed
