#!/usr/bin/env bash
# make demo: one 张掖市 node, a few events of each of the four flows, read back.
# (Issue 3 brings the three-level topology over NATS; issue 4 the full story.)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="$root/target/release"
work="$(mktemp -d -t linkage-demo.XXXXXX)"
node_pid=""
cleanup() {
  [ -n "$node_pid" ] && kill -9 "$node_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Starting the 张掖市 (620700) node on a free loopback port"
"$bin/linkage-node" --node 620700 --topology "$root/deploy/topology/demo.toml" \
  --data-dir "$work/620700" --grpc-listen 127.0.0.1:0 --log warn &
node_pid=$!
for _ in $(seq 1 300); do [ -s "$work/620700/grpc.addr" ] && break; sleep 0.1; done
[ -s "$work/620700/grpc.addr" ] || { echo "the node did not start" >&2; exit 1; }
export LINKCTL_ADDR="http://$(cat "$work/620700/grpc.addr")"
echo "node serving at $LINKCTL_ADDR"
ctl() { "$bin/linkctl" "$@"; }

say "沟通 — propose a topic to the province (up)"
ctl append topic-proposed --channel up --year 2026 --category research \
  --title "河西走廊节水农业发展调研" --summary "张掖市拟开展的年度调研选题"

say "联通 — form a joint group with 民乐县 (all), then report progress in the group"
ctl append group-formed --channel all --group-id hexi-water-2026 --title "河西走廊节水农业联动调研组" \
  --lead 620700 --member 620722 --member 620000
ctl append progress-reported --channel group:hexi-water-2026 --group-id hexi-water-2026 \
  --task-id minle-survey --percent 40 --text "完成民乐县三个乡镇的实地走访"

say "畅通 — a 社情民意 item goes up, a notice goes down"
ctl append info-reported --channel up --title "关于加强农村饮水安全保障的建议" \
  --body "部分山区村组供水管网老化，建议纳入年度改造计划。" --submitter "张掖市政协委员" \
  --idempotency-key demo-info-1
ctl append notice-issued --channel down --title "关于报送2026年度协商选题的通知" --requires-acknowledgement

say "互通 — a completed study is shared with everyone (all)"
ctl append research-completed --channel all --title "张掖市节水农业调研报告" \
  --summary "提出六条对策建议" --attachment "doc://zhangye/2026/water-report.pdf"

say "A retry with the same idempotency key returns the first event, and writes nothing"
ctl append info-reported --channel up --title "关于加强农村饮水安全保障的建议" \
  --body "部分山区村组供水管网老化，建议纳入年度改造计划。" --submitter "张掖市政协委员" \
  --idempotency-key demo-info-1

say "Bad input is refused with the field named, and changes nothing"
ctl append topic-proposed --channel up --year 1999 --category research --title "年份写错的选题" || true
ctl append notice-issued --channel to:629999 --title "发给不存在的节点" || true

say "Reading the log back"
ctl read

say "Node status"
ctl status

say "Stopping the node with SIGTERM (health NOT_SERVING, drain, flush, exit 0)"
kill -TERM "$node_pid"
wait "$node_pid"
node_pid=""
echo "demo finished"
