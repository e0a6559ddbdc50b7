#!/usr/bin/env bash
# The dashboard in a real browser: Debian's headless Chromium, driven over
# the DevTools protocol (tests/sh/exporter.py: a minimal WebSocket client),
# against tt-alloc-exporter on live segments with real tracked processes and
# the real reaper. Asserts what the page promises: device cards carrying
# the exact bytes (data-device, data-TYPE-used), a value changing after a
# writer allocates without the page reloading, a process named <img src=x>
# shown as text with no element created, the leak report of a process that
# died holding memory, the event feed, drawn charts, and the "no segment"
# page. Leaves a screenshot in $TTA_BUILD/dashboard.png for people to look at.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/exporter_lib.sh"

need_tool chromium_installed chromium chromium
chrome_pid= reaper_pid=
stop_all() {
	[ -n "$chrome_pid" ] && kill -TERM "$chrome_pid" 2>/dev/null && wait "$chrome_pid"
	[ -n "$reaper_pid" ] && kill -TERM "$reaper_pid" 2>/dev/null && wait "$reaper_pid"
	tta_cleanup
}
trap stop_all EXIT
MiB=$((1 << 20))

"$TTA_BUILD/tt-alloc-reaper" 2>"$TTA_TMP/reaper.log" &
reaper_pid=$!
writer_start llm -- "name llm_serve" "register 0 wormhole 72" "register 1 wormhole 72" \
	"alloc 0 0x10000 $((3 * 1024 * MiB)) dram" "alloc 0 0x20000 $((24 * MiB)) l1" \
	"alloc 0 0x30000 $((6 * MiB)) l1_small" "alloc 0 0x40000 $((512 * MiB)) trace" \
	"cb 0 1 $((9 * MiB))" "kernel 0 2 $((3 * MiB))" \
	"alloc 1 0x10000 $((5 * 1024 * MiB)) dram" "alloc 1 0x20000 $((40 * MiB)) l1" || exit 1
writer_start img -- 'name <img\x20src=x>' "register 2 blackhole 140" \
	"alloc 2 0x1000 $((700 * MiB)) dram" "alloc 2 0x2000 $((12 * MiB)) l1" || exit 1
disown "${WRITER_PID[img]}" # killed below from the helper: no job notice
# The driver's view of the host (tests/sh/fake_host.py under
# TT_ALLOC_SYSFS_ROOT): telemetry of device 0, and a process that holds it
# open without reporting, whose name is markup.
export HOST=$TTA_TMP/host STRAY=4000004
python3 - <<'PY' || fail fake_host_built
import os, sys
sys.path.insert(0, os.environ["TTA_SRC"] + "/tests/sh")
import fake_host as fh
root, stray = os.environ["HOST"], int(os.environ["STRAY"])
fh.device(root, 0, {"tt_card_type": "n300", "tt_serial": "0000000100000042", "tt_aiclk": 1000},
          {"name": "wormhole", "temp1_input": 45125, "power1_input": 60000000, "in0_input": 850})
fh.pids(root, 0, [stray])
fh.process(root, stray, "<svg onload=x>", 0)
PY
TT_ALLOC_SYSFS_ROOT=$HOST start_exporter web || exit 1
export BASE="http://127.0.0.1:${EXP_PORT[web]}" SHOT="$TTA_BUILD/dashboard.png" MiB
export LLM=${WRITER_PID[llm]} IMG=${WRITER_PID[img]} TTA_TMP STRAY

# Chromium picks its DevTools port (0) and prints it: no race for a port.
chromium --headless --no-sandbox --disable-gpu --no-first-run --no-default-browser-check \
	--disable-extensions --disable-background-networking --disable-sync --hide-scrollbars \
	--mute-audio --user-data-dir="$TTA_TMP/chrome" --remote-debugging-port=0 \
	--window-size=1440,1000 about:blank >"$TTA_TMP/chrome.log" 2>&1 &
chrome_pid=$!
if ! wait_for 60 grep -q 'DevTools listening on ws://' "$TTA_TMP/chrome.log"; then
	fail chromium_started "$(tail -n 20 "$TTA_TMP/chrome.log")"
	exit 1
fi
export DEVTOOLS_PORT=$(sed -n 's|.*DevTools listening on ws://127\.0\.0\.1:\([0-9]*\)/.*|\1|p' "$TTA_TMP/chrome.log" | head -n 1)
pass chromium_started

# A control fifo lets the Python side ask the shell to run writer commands
# while it keeps the page open.
mkfifo "$TTA_TMP/ask" "$TTA_TMP/done"
(
	while read -r what; do
		case $what in
		grow) writer_send llm "alloc 0 0x50000 $((1024 * MiB)) dram" ;;
		attach) writer_start late -- "name late_job" "alloc 1 0x9000 $((64 * MiB)) dram" ;;
		crash) writer_kill img KILL ;;
		esac
		echo "done $what" >"$TTA_TMP/done"
	done <"$TTA_TMP/ask"
) &
helper=$!
exec {ask}>"$TTA_TMP/ask"

python3 - <<'EOF'
import json, os, sys, time
sys.path.insert(0, os.path.dirname(os.environ["EXPORTER_PY"]))
import exporter as ex

env = os.environ
M = int(env["MiB"])
failed = False
def check(name, ok, why=""):
    global failed
    print(("PASS %s" if ok else "FAIL %s: " + str(why)) % name, flush=True)
    failed |= not ok
def ask(what):
    with open(env["TTA_TMP"] + "/ask", "w") as f:
        f.write(what + "\n")
    with open(env["TTA_TMP"] + "/done") as f:
        f.read()

dt = ex.DevTools(int(env["DEVTOOLS_PORT"]))
dt.call("Page.enable")
dt.call("Runtime.enable")
dt.call("Log.enable")
dt.call("Emulation.setDeviceMetricsOverride", width=1440, height=1000, deviceScaleFactor=1, mobile=False)
dt.call("Page.navigate", url=env["BASE"] + "/")
card = 'document.querySelector(\'[data-device="%s"]\')'
ok = dt.wait_for("!!(" + card % 0 + " && " + card % 2 + ")", 30)
check("device_cards_rendered", ok)

# Exact bytes in machine-readable attributes, every type, spelled as /metrics.
attrs = dt.evaluate("""(() => { const out = {};
  for (const c of document.querySelectorAll('#devices [data-device]')) {
    const d = {}; for (const a of c.attributes) if (a.name.endsWith('-used')) d[a.name] = a.value;
    out[c.dataset.device] = d; } return out; })()""")
want0 = {"data-dram-used": 3072 * M, "data-l1-used": 24 * M, "data-l1_small-used": 6 * M,
         "data-trace-used": 512 * M, "data-cb-used": 9 * M, "data-kernel-used": 3 * M, "data-system-used": 0}
check("card_attributes_exact", attrs.get("0") == {k: str(v) for k, v in want0.items()}, attrs.get("0"))
check("card_attributes_other_devices",
      attrs.get("1", {}).get("data-dram-used") == str(5120 * M) and
      attrs.get("2", {}).get("data-dram-used") == str(700 * M) and
      attrs.get("2", {}).get("data-l1-used") == str(12 * M), attrs)
text = dt.evaluate(card % 0 + ".textContent")
check("card_shows_formatted_values", "3.0GiB" in text and "12GiB" in text and "Wormhole_B0" in text, text)

# The hostile name: shown as the characters, no element made from it.
hostile = dt.evaluate("""(() => ({
  imgs: [...document.images].filter(i => i.getAttribute('src') === 'x').length,
  cells: [...document.querySelectorAll('#processes td')].filter(td => td.textContent === '<img src=x>').length,
  row: (document.querySelector('#processes tr[data-pid="%s"]') || {}).outerHTML || '' }))()""" % env["IMG"])
check("hostile_name_inert", hostile["imgs"] == 0 and hostile["cells"] == 1 and
      "&lt;img src=x&gt;" in hostile["row"], hostile)

# What the driver says, on the card and in the table; its process name inert.
tele = dt.evaluate(card % 0 + ".querySelector('.device-tele').textContent")
check("card_shows_driver_telemetry", dt.evaluate(card % 0 + ".getAttribute('data-temperature-celsius')") == "45.125"
      and "45.1 \u00b0C" in tele and "60.0 W" in tele and "n300" in tele and "1 untracked process" in tele, tele)
stray = dt.evaluate("""(() => { const tr = document.querySelector('#processes tr[data-pid="%s"]');
  return tr ? [tr.dataset.source, tr.querySelector('td.name').firstChild.textContent,
               document.querySelectorAll('svg').length] : null; })()""" % env["STRAY"])
check("untracked_process_listed_inert", stray == ["untracked", "<svg onload=x>", 0], stray)

# Live update without a reload: a marker set now survives the change.
dt.evaluate("window.__ttaMarker = 1")
before = dt.evaluate(card % 0 + ".getAttribute('data-dram-used')")
ask("grow")
after = dt.wait_for(card % 0 + ".getAttribute('data-dram-used') === '%d' && window.__ttaMarker === 1" % (4096 * M), 15)
row = dt.evaluate("(document.querySelector('#processes tr[data-pid=\"%s\"][data-device=\"0\"]') || {}).outerHTML" % env["LLM"])
check("live_update_without_reload", before == str(3072 * M) and after, (before, after))
check("process_row_has_peak", row and 'data-dram-peak="%d"' % (4096 * M) in row, row)

# A new process appears in the table and the event feed.
ask("attach")
ok = dt.wait_for("[...document.querySelectorAll('#processes td.name')].some(td => td.textContent === 'late_job')", 15)
check("new_process_listed", ok)
ok = dt.wait_for("[...document.querySelectorAll('#events li')].some(li => li.textContent.includes('late_job') || li.textContent.includes('ATTACH'))", 15)
check("event_feed_shows_attach", ok, dt.evaluate("document.getElementById('events').textContent"))

# A process killed holding memory: the reaper reclaims it, the page reports the leak.
ask("crash")
ok = dt.wait_for("!!document.querySelector('#leaks tr[data-pid=\"%s\"]')" % env["IMG"], 20)
leak = dt.evaluate("(document.querySelector('#leaks tr[data-pid=\"%s\"]') || {}).textContent" % env["IMG"])
check("leak_report_shown", ok and "712MiB" in (leak or ""), leak)
check("leak_name_inert", dt.evaluate("[...document.images].filter(i => i.getAttribute('src') === 'x').length") == 0)
ok = dt.wait_for(card % 2 + " === null || " + card % 2 + ".getAttribute('data-dram-used') === '0'", 15)
check("reaped_device_back_to_zero", ok)

# Charts: the page keeps (or loads) ten minutes of history and draws it.
time.sleep(3)
painted = dt.evaluate("""(() => { const c = document.getElementById('chart-dram');
  const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data; let n = 0;
  for (let i = 3; i < d.length; i += 4) if (d[i]) n++; return n; })()""")
legend = dt.evaluate("document.getElementById('legend-dram').textContent")
check("charts_drawn", painted > 1000 and "device 0" in legend, (painted, legend))

# The page used what the segment keeps: its history for the charts, its event
# ring for the feed and the leak report.
src = dt.evaluate("[document.getElementById('history-source').textContent, document.getElementById('events-source').textContent]")
check("history_and_events_from_the_segment", "segment" in src[0] and "event ring" in src[1], src)
feed = dt.evaluate("document.getElementById('events').textContent")
check("feed_shows_the_reap_with_its_leak", "REAP: PID %s" % env["IMG"] in feed and "712MiB" in feed, feed[:400])

# Nothing went wrong in the page itself (no exception, no CSP violation).
errors = [e for e in dt.events if e.get("method") in ("Runtime.exceptionThrown",) or
          (e.get("method") == "Log.entryAdded" and e["params"]["entry"]["level"] == "error"
           and "favicon" not in e["params"]["entry"].get("url", ""))]
check("no_page_errors", not errors, errors[:3])

# The screenshot people look at: the whole page.
m = dt.call("Page.getLayoutMetrics")
size = m.get("cssContentSize") or m["contentSize"]
shot = dt.call("Page.captureScreenshot", format="png", captureBeyondViewport=True,
               clip={"x": 0, "y": 0, "width": size["width"], "height": size["height"], "scale": 1})
import base64
png = base64.b64decode(shot["data"])
with open(env["SHOT"], "wb") as f:
    f.write(png)
check("screenshot_saved", png.startswith(b"\x89PNG") and len(png) > 20000, len(png))

dt.ws.close()
sys.exit(1 if failed else 0)
EOF
[ $? -eq 0 ] || tta_failed=1
exec {ask}>&-
wait "$helper"

# The page of an exporter without a segment says so.
start_exporter down -s "/tta_browser_none_$$" || exit 1
export DOWN="http://127.0.0.1:${EXP_PORT[down]}/"
python3 - <<'EOF'
import os, sys
sys.path.insert(0, os.path.dirname(os.environ["EXPORTER_PY"]))
import exporter as ex
dt = ex.DevTools(int(os.environ["DEVTOOLS_PORT"]))
dt.call("Page.navigate", url=os.environ["DOWN"])
ok = dt.wait_for("!document.getElementById('banner').hidden && document.getElementById('banner').textContent", 20)
status = dt.evaluate("document.getElementById('status').textContent")
if ok and "No readable tt-alloc segment" in ok and "no tt-alloc segment" in ok and status == "no segment":
    print("PASS no_segment_page_says_so")
else:
    print("FAIL no_segment_page_says_so: %r %r" % (ok, status))
EOF
for n in web down; do
	stop_exporter "$n"
	if [ $rc -eq 0 ]; then pass "exporter_${n}_exit_0"; else fail "exporter_${n}_exit_0" "rc=$rc $(tail -n 5 "$TTA_TMP/exporter_$n.log")"; fi
done
exit $tta_failed
