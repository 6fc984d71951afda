#!/usr/bin/env bash
# make demo: a three-level topology over a real nats-server, and one joint
# research story through the four flows — 沟通、联通、畅通、互通 — showing what
# each level holds. 古浪县 goes offline mid-story and catches up.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release"
work="$(mktemp -d -t linkage-demo.XXXXXX)"
cleanup() {
  [ -f "$work/nodes.json" ] && "$bin/linkctl" local down "$work" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
url() { "$bin/linkctl" local url "$work" "$1"; }
# ctl CODE ARGS…: linkctl against one node.
ctl() { local code=$1; shift; "$bin/linkctl" --addr "$(url "$code")" "$@"; }
# id CODE ARGS…: append and print only the new event's id.
id() { local code=$1; shift; "$bin/linkctl" --addr "$(url "$code")" append --print-id "$@"; }
# settle: give replication a moment (pushes are immediate; heads every second).
settle() { sleep "${1:-2}"; }

say "Starting nats-server and the demo topology: 甘肃省; 兰州市+城关区; 张掖市+民乐县; 武威市+古浪县"
"$bin/linkctl" local up "$root/deploy/topology/demo.toml" "$work" --bin-dir "$bin"

say "沟通 1 — the province asks for next year's topics (down: every city and county)"
id 620000 notice-issued --channel down --title "关于征集2027年度协商调研选题的通知" --requires-acknowledgement >/dev/null

say "沟通 2 — 张掖市 and 武威市 propose overlapping topics to the province (up)"
t1=$(id 620700 topic-proposed --channel up --year 2027 --category research --title "河西走廊节水农业发展调研")
t2=$(id 620600 topic-proposed --channel up --year 2027 --category research --title "石羊河流域节水农业调研")
id 620000 topic-commented --channel down --topic-id "$t1" --text "两市选题相近，建议合并为全省联动调研" >/dev/null

say "联通 — the province forms a joint group with both cities, 民乐县 and 古浪县 (all)"
id 620000 group-formed --channel all --group-id hexi-water-2027 --title "河西走廊节水农业联动调研组" \
  --lead 620000 --member 620700 --member 620600 --member 620722 --member 620622 >/dev/null
settle
id 620722 progress-reported --channel group:hexi-water-2027 --group-id hexi-water-2027 --task-id minle \
  --percent 50 --text "民乐县完成三个乡镇的实地走访" >/dev/null

say "古浪县 goes offline (kill -9) while the story goes on"
"$bin/linkctl" local kill "$work" 620622

say "畅通 — 民乐县 submits a 社情民意 item; 张掖市 forwards it; the province adopts it"
info=$(id 620722 info-reported --channel up --title "关于加强山区农村饮水安全保障的建议" \
  --body "部分山区村组供水管网老化，建议纳入年度改造计划。" --submitter "民乐县政协委员")
settle
id 620700 info-forwarded --channel up --info-id "$info" --to "甘肃省政协" >/dev/null
id 620000 info-adopted --channel down --info-id "$info" --level province --by "甘肃省政协《社情民意》" >/dev/null

say "互通 — the group completes the study; the result is shared province-wide; 兰州市 reuses it"
result=$(id 620000 research-completed --channel all --title "河西走廊节水农业发展调研报告" \
  --summary "提出十条对策建议" --attachment "doc://gansu/2027/hexi-water.pdf")
id 620622 research-completed --channel all --title "unused" 2>/dev/null || echo "(古浪县 is offline: its platform cannot append now)"
settle
id 620100 result-adopted --channel all --result-id "$result" --by "兰州市政协" --how "转化为兰州市节水型城市建设提案" >/dev/null

say "古浪县 comes back and catches up"
"$bin/linkctl" local restart "$work" 620622
settle 3

for code in 620000 620700 620722 620622; do
  say "What $code holds"
  ctl "$code" read
done

say "古浪县's replication state: caught up, nothing rejected"
ctl 620622 replication

say "A county cannot send down; a province cannot send up (FAILED_PRECONDITION, field named)"
ctl 620722 append notice-issued --channel down --title "县级不能下发" || true
ctl 620000 append info-reported --channel up --title "省级不能上报" --body "x" || true

say "Stopping everything"
"$bin/linkctl" local down "$work"
rm -f "$work/nodes.json"
echo "demo finished"
