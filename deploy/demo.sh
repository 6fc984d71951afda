#!/usr/bin/env bash
# make demo: a three-level topology over a real nats-server, and one joint
# research story through the four flows — 沟通、联通、畅通、互通 — and a joint
# proposal (提案) sent up, filed, answered and rated, then the views as the
# province, a city and a county see them. 古浪县 goes offline
# mid-story, misses part of it, and catches up.
#
# Environment:
#   LINKAGE_BIN_DIR      where linkctl and linkage-node are (default target/release)
#   LINKAGE_DEMO_WORKDIR working directory to use (default: a new temporary one)
#   LINKAGE_DEMO_KEEP=1  leave the topology running at the end (tests inspect it)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
bin="${LINKAGE_BIN_DIR:-$root/target/release}"
work="${LINKAGE_DEMO_WORKDIR:-$(mktemp -d -t linkage-demo.XXXXXX)}"
keep="${LINKAGE_DEMO_KEEP:-}"
cleanup() {
  [ -n "$keep" ] && return
  [ -f "$work/nodes.json" ] && "$bin/linkctl" local down "$work" >/dev/null 2>&1 || true
  [ -z "${LINKAGE_DEMO_WORKDIR:-}" ] && rm -rf "$work"
  return 0
}
trap cleanup EXIT

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
url() { "$bin/linkctl" local url "$work" "$1"; }
# ctl CODE ARGS…: linkctl against one node.
ctl() { local code=$1; shift; "$bin/linkctl" --addr "$(url "$code")" "$@"; }
# view CODE ARGS…: a query, with node names from the topology.
view() { local code=$1; shift; "$bin/linkctl" --addr "$(url "$code")" "$@" --topology "$work/topology.toml"; }
# id CODE ARGS…: append and print only the new event's id.
id() { local code=$1; shift; "$bin/linkctl" --addr "$(url "$code")" append --print-id "$@"; }
# arrive ID CODE…: wait until every named node holds the event (replication is
# asynchronous; a step that builds on an event waits until it is there).
arrive() {
  local event=$1; shift
  for code in "$@"; do
    for _ in $(seq 1 300); do
      ctl "$code" get "$event" >/dev/null 2>&1 && continue 2
      sleep 0.1
    done
    echo "event $event did not reach $code in 30 s" >&2
    return 1
  done
}

say "Starting nats-server and the demo topology: 甘肃省; 兰州市+城关区; 张掖市+民乐县; 武威市+古浪县"
"$bin/linkctl" local up "$root/deploy/topology/demo.toml" "$work" --bin-dir "$bin"
# Every node serves TLS and checks who calls: the runner made the
# topology's own CA, and a client certificate for the local operator.
export LINKCTL_CA="$work/pki/ca.crt"
export LINKCTL_CERT="$work/pki/clients/local-operator.crt"
export LINKCTL_KEY="$work/pki/clients/local-operator.key"

say "沟通 1 — the province asks every city and county for next year's topics by a deadline (a 征集 notice, down)"
# The deadline falls while the story runs, so that the end shows who is overdue.
due=$(date -u -d '+25 seconds' +%Y-%m-%dT%H:%M:%SZ)
notice=$(id 620000 notice-issued --channel down --title "关于征集2027年度协商调研选题的通知" \
  --body "请于截止时间前报送2027年度协商调研选题。" --requires-acknowledgement --expects topics --due "$due")
arrive "$notice" 620700 620600 620722
id 620700 notice-acknowledged --channel up --notice-id "$notice" >/dev/null
id 620722 notice-acknowledged --channel up --notice-id "$notice" >/dev/null

say "沟通 2 — 张掖市 and 武威市 return topics to the notice (--ref); the province proposes its own; they overlap"
arrive "$notice" 620600
t_zy=$(id 620700 topic-proposed --channel all --ref "$notice" --year 2027 --category research \
  --title "河西走廊节水农业发展调研" --summary "张掖市灌区节水改造与高效农业")
t_ww=$(id 620600 topic-proposed --channel all --ref "$notice" --year 2027 --category research \
  --title "关于河西走廊节水农业发展的调研" --summary "石羊河流域节水与生态")
t_p=$(id 620000 topic-proposed --channel all --year 2027 --category research \
  --title "推进河西走廊节水农业发展调研" --summary "全省联动调研" --lead-committee "农业和农村委员会")
arrive "$t_zy" 620000; arrive "$t_ww" 620000
say "The province looks for overlapping topics: between any two committees, 张掖市 and 武威市 too"
view 620000 planning overlaps --year 2027

say "沟通 3 — the province links the three topics as one joint study; 民乐县 and 古浪县 join"
link=$(id 620000 topic-linked --channel all --topic-id "$t_p" --topic-id "$t_zy" --topic-id "$t_ww" \
  --note "三级联动调研")
arrive "$t_p" 620722 620622 620102
id 620722 topic-responded --channel up --topic-id "$t_p" --response joined --note "民乐县承担子课题" >/dev/null
id 620622 topic-responded --channel up --topic-id "$t_p" --response joined >/dev/null
id 620102 topic-responded --channel up --topic-id "$t_p" --response declined --note "城关区不涉农" >/dev/null

say "沟通 4 — consulted first, the province publishes its 2027 plan with the joint study (制订计划前沟通)"
id 620000 plan-published --channel all --year 2027 --title "甘肃省政协2027年度协商调研计划" --topic-id "$t_p" >/dev/null

say "联通 1 — the province forms the joint group and assigns sub-topics (子课题)"
group=620000-hexi-water-2027
formed=$(id 620000 group-formed --channel all --group-id $group --title "河西走廊节水农业联动调研组" \
  --lead 620000 --member 620700 --member 620600 --member 620722 --member 620622 \
  --topic-id "$t_p" --topic-id "$t_zy" --topic-id "$t_ww")
arrive "$formed" 620700 620600 620722 620622
id 620000 task-assigned --channel group:$group --group-id $group --task-id minle \
  --title "民乐县灌区节水改造" --assignee 620722 --due 2027-05-31T00:00:00Z >/dev/null
gulang_task=$(id 620000 task-assigned --channel group:$group --group-id $group --task-id gulang \
  --title "古浪县移民区节水农业" --assignee 620622 --due 2027-04-30T00:00:00Z)
id 620000 visit-scheduled --channel group:$group --group-id $group --title "河西五市联动视察" \
  --starts 2027-04-15T09:00:00Z --place 张掖市 --place 武威市 >/dev/null
arrive "$gulang_task" 620722 620622

say "古浪县 goes offline (kill -9) and misses what follows; the lead moves its due date (延期)"
"$bin/linkctl" local kill "$work" 620622
moved=$(id 620000 task-due-changed --channel group:$group --group-id $group --task-id gulang \
  --due 2027-05-15T00:00:00Z --reason "古浪县网络中断，子课题顺延两周")

say "联通 2 — 民乐县 reports progress and submits its sub-report (分报告)"
id 620722 progress-reported --channel group:$group --group-id $group --task-id minle \
  --percent 60 --text "完成三个乡镇的实地走访" >/dev/null
minle_report=$(id 620722 sub-report-submitted --channel group:$group --group-id $group --task-id minle \
  --title "民乐县灌区节水改造分报告" --summary "高效节灌面积占比提高到65%")

say "畅通 — the province issues its score rule (计分办法): every committee ranks by it alike"
id 620000 score-rule-issued --channel all --effective 2026-01-01T00:00:00Z --adoption 1,5,20,50 \
  --combined-percent 50 --deputy 2,5,10,20 --principal 5,10,20,40 --forward-credit-percent 20 \
  --title "社情民意信息计分办法" >/dev/null
say "畅通 — 民乐县 submits a 社情民意 item and sends it up; 张掖市 edits, publishes and forwards it (转报)"
info=$(id 620722 info-reported --channel up --title "关于加强山区农村饮水安全保障的建议" \
  --body "部分山区村组供水管网老化，建议纳入年度改造计划。" --submitter "民乐县政协委员" --sector "农业界")
# An item's handling goes along its chain — 民乐县, 张掖市, the province — and
# to no other county (chain:<the item's origin>). Each level handles it in its own right.
id 620722 info-forwarded --channel chain:620722 --info-id "$info" --to "张掖市政协" >/dev/null
arrive "$info" 620700
id 620700 info-published --channel chain:620722 --info-id "$info" --issue "《张掖社情民意》第3期" >/dev/null
fwd=$(id 620700 info-forwarded --channel chain:620722 --info-id "$info" --to "甘肃省政协研究室")
arrive "$fwd" 620000
arrive "$info" 620000   # handling needs the item itself, not only the forward
say "The province publishes it, the provincial party committee adopts it, its principal leader instructs (批示), the department feeds back"
id 620000 info-published --channel chain:620722 --info-id "$info" --issue "《甘肃社情民意》第12期" >/dev/null
adopted=$(id 620000 info-adopted --channel chain:620722 --info-id "$info" --level province --by "甘肃省委办公厅")
instructed=$(id 620000 info-instructed --channel chain:620722 --info-id "$info" --leader "省委主要领导" \
  --rank principal --text "请省水利厅研究办理")
fed_back=$(id 620000 info-feedback --channel chain:620722 --info-id "$info" --text "省水利厅已将其纳入年度改造计划")
say "A level publishes an item once: the province cannot publish it again"
ctl 620000 append info-published --channel chain:620722 --info-id "$info" --issue "第13期" || true

say "Who may say what: 民乐县 cannot record 全国政协's adoption of its own item — its node refuses"
ctl 620722 append info-adopted --channel chain:620722 --info-id "$info" --level national --by "全国政协" || true
say "Nor can a stolen key: the same claim, signed with 民乐县's key and pushed, is stored but disputed everywhere"
"$bin/linkctl" local kill "$work" 620722
forged=$("$bin/linkage-forge" "$work" 620722 "$info")
arrive "$forged" 620700 620000
"$bin/linkctl" local restart "$work" 620722
ctl 620000 alarms

say "古浪县 comes back, catches up, and submits its sub-report"
"$bin/linkctl" local restart "$work" 620622
arrive "$moved" 620622; arrive "$fed_back" 620722
say "The province's 批示 reached 民乐县 and 张掖市 along the item's chain, and not 古浪县"
ctl 620722 get "$instructed" >/dev/null && echo "民乐县 holds the 批示 on its item"
ctl 620622 get "$instructed" >/dev/null 2>&1 || echo "古浪县 does not hold it: not its item"
id 620622 progress-reported --channel group:$group --group-id $group --task-id gulang --percent 100 >/dev/null
gulang_report=$(id 620622 sub-report-submitted --channel group:$group --group-id $group --task-id gulang \
  --title "古浪县移民区节水农业分报告")
arrive "$gulang_report" 620000; arrive "$minle_report" 620000

say "互通 — the group completes the study; the result is shared province-wide; 兰州市 reuses it"
id 620000 milestone-reached --channel group:$group --group-id $group --title "分报告全部提交" >/dev/null
id 620000 consolidated-report-submitted --channel group:$group --group-id $group \
  --title "河西走廊节水农业发展联动调研总报告" --summary "汇总两县分报告，提出十条对策建议" \
  --sub-report-id "$minle_report" --sub-report-id "$gulang_report" >/dev/null
result=$(id 620000 research-completed --channel all --title "河西走廊节水农业发展调研报告" \
  --summary "提出十条对策建议" --attachment "doc://gansu/2027/hexi-water.pdf" \
  --group-id $group --year 2027 --category research)
id 620000 result-shared --channel all --result-id "$result" --audience all >/dev/null
arrive "$result" 620100
reuse=$(id 620100 result-adopted --channel all --result-id "$result" --by "兰州市政协" \
  --how "转化为兰州市节水型城市建设提案")
arrive "$reuse" 620000
feedback=$(id 620000 result-feedback --channel all --result-id "$result" --text "省水利厅已吸收三条建议")

say "提案 — the province issues this year's member duties (N个一) and its holiday calendar"
year=$(date -u +%Y)
id 620000 member-duties-issued --channel all --year "$year" --title "${year}年委员履职“N个一”" \
  --themed-talks 1 --proposals 1 >/dev/null
id 620000 holiday-calendar-issued --channel all --year "$year" --holiday "$year-10-01" --holiday "$year-10-02" \
  --holiday "$year-10-03" --workday "$year-10-11" >/dev/null
say "评价 — the province issues its indicator set for proposals: three indicators computed from the log, one judged"
set=$(id 620000 indicator-set-issued --channel all --subject proposal --effective 2026-01-01T00:00:00Z \
  --title "提案办理质量评价指标" --indicator filed:20:filed:立案:办理 --indicator on_time:20:answered-on-time:按期答复:办理 \
  --indicator satisfied:20:satisfaction:提案人满意度:反馈 --indicator quality:40:judged:提案质量:选题与质量 \
  --grade 优秀:85 --grade 较好:60 --grade 一般:0)
say "提案 — 民乐县 registers a member, records her themed talk, and drafts a joint proposal with 张掖市"
id 620722 member-registered --channel chain:620722 --member-id 620722-zhang-0017 --name 张某某 \
  --sector 农业界 --special-committee 农业和农村委员会 --term 第十届 >/dev/null
id 620722 member-contributed --channel chain:620722 --member-id 620722-zhang-0017 --kind themed-talk \
  --title "关于河西走廊节水农业的发言" --occasion "县政协十届三次全会" >/dev/null
# The proposal's full text is a document: put first, then named by its root.
cat >"$work/提案全文.md" <<'TEXT'
# 关于推进河西走廊高效节水灌溉的建议

提案人：民乐县政协委员 张某某（与张掖市政协联合提出）

## 案由
河西走廊灌区渠系老化，大水漫灌仍占较大比重，水资源利用效率偏低。

## 建议
一、省级统筹资金，分年度推进灌区高效节水改造；
二、将民乐县、甘州区列入首批试点；
三、建立节水成效评价与奖补机制。
TEXT
text=$(ctl 620722 document put "$work/提案全文.md" --media-type text/markdown)
proposal=$(id 620722 proposal-submitted --channel chain:620722 --submitter member --member-id 620722-zhang-0017 \
  --title "关于推进河西走廊高效节水灌溉的建议" --body "建议省级统筹资金，推进灌区高效节水改造。" \
  --year 2027 --category 经济建设 --document "$text")
arrive "$proposal" 620700
id 620700 proposal-co-signed --channel chain:620722 --proposal-id "$proposal" --note "市县联合提出" >/dev/null
sent=$(id 620722 proposal-sent-up --channel chain:620722 --proposal-id "$proposal" --note "市县联合报送")
arrive "$sent" 620700
sent=$(id 620700 proposal-sent-up --channel chain:620722 --proposal-id "$proposal" --note "报送省政协")
arrive "$sent" 620000; arrive "$proposal" 620000
say "提案 — the province files it as a key proposal, assigns it, the unit answers B (planned), 民乐县 rates it 满意"
id 620000 proposal-reviewed --channel chain:620722 --proposal-id "$proposal" --outcome filed --number 第0123号 --key-proposal >/dev/null
id 620000 proposal-assigned --channel chain:620722 --proposal-id "$proposal" --lead-unit 省水利厅 \
  --co-unit 省财政厅 >/dev/null
cat >"$work/答复函.md" <<'TEXT'
# 甘肃省水利厅关于省政协十二届五次会议第0123号提案的答复

张某某委员、民乐县政协、张掖市政协：

您们提出的《关于推进河西走廊高效节水灌溉的建议》收悉。经研究，已将民乐县、甘州区灌区
高效节水改造列入明年项目计划（B类：正在解决），省财政厅同步安排配套资金。

感谢对水利工作的关心和支持。
TEXT
letter=$(ctl 620000 document put "$work/答复函.md" --media-type text/markdown)
answer=$(id 620000 proposal-answered --channel chain:620722 --proposal-id "$proposal" --unit 省水利厅 --class b \
  --text "已列入明年高效节水灌溉项目计划" --document "$letter")
say "Only the proposer's committee rates: the province cannot rate its own answer"
ctl 620000 append proposal-rated --channel chain:620722 --proposal-id "$proposal" --handler 620000 \
  --satisfaction satisfied || true
arrive "$answer" 620722
rated=$(id 620722 proposal-rated --channel chain:620722 --proposal-id "$proposal" --handler 620000 --satisfaction satisfied)
arrive "$rated" 620700 620000
say "评价 — 张掖市, above 民乐县 on the chain, rates the proposal's quality; 民乐县 cannot rate its own"
arrive "$set" 620700 620722
rating=$(id 620700 evaluation-rated --channel chain:620722 --subject-id "$proposal" --set-id "$set" --score quality:34 \
  --note "选题精准，市县联动")
ctl 620722 append evaluation-rated --channel chain:620722 --subject-id "$proposal" --set-id "$set" --score quality:40 || true
arrive "$rating" 620000 620722

say "Everyone converges (古浪县 included)"
arrive "$feedback" 620100 620102 620600 620622 620700 620722

for code in 620000 620700 620722; do
  say "What $code sees — 沟通 topics"
  view "$code" planning topics
  say "What $code sees — 联通 joint group"
  view "$code" progress group $group
  say "What $code sees — 畅通 社情民意 items and notices"
  view "$code" exchange items
  view "$code" exchange notices
  say "What $code sees — 互通 results"
  view "$code" results list
done

say "The 征集 notice after its deadline: two returns, the rest overdue; the province reminds 古浪县 (催办)"
left=$(( $(date -u -d "$due" +%s) - $(date -u +%s) ))
[ "$left" -gt 0 ] && sleep "$left"
id 620000 notice-reminded --channel down --notice-id "$notice" --to 620622 --note "请尽快报送选题" >/dev/null
view 620000 exchange notices --overdue-only
view 620000 exchange notice "$notice"

say "The province's detail: the item's trail, each level's handling and its score, the result's reuse, statistics"
view 620000 exchange item "$info"
view 620000 exchange stats
say "The ranking (排名) by the province's rule: 民乐县 computes its own row as the province does"
echo "at the province (620000):"
view 620000 exchange ranking --start 2026-01-01T00:00:00Z
echo "at 民乐县 (620722):"
view 620722 exchange ranking --start 2026-01-01T00:00:00Z
view 620000 results show "$result"

say "提案 — the proposal as the province and 张掖市 serve it: each level's handling, the trail"
view 620000 proposals show "$proposal"
view 620700 proposals show "$proposal"
view 620000 proposals stats
say "Documents — the proposal's text reached the province, the answer letter 民乐县, byte for byte"
# fetch CODE ROOT FILE: wait until the node holds the document whole, then write it.
fetch() {
  for _ in $(seq 1 300); do
    ctl "$1" document get "$2" -o "$3" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "document $2 did not reach $1 in 30 s" >&2
  return 1
}
fetch 620000 "$text" "$work/提案全文-at-620000.md"
cmp "$work/提案全文.md" "$work/提案全文-at-620000.md" && echo "提案全文 at 甘肃省: identical"
fetch 620722 "$letter" "$work/答复函-at-620722.md"
cmp "$work/答复函.md" "$work/答复函-at-620722.md" && echo "答复函 at 民乐县: identical"
cat "$work/答复函-at-620722.md"
ctl 620000 document list
say "评价 — the proposal's evaluation, computed alike at the province and at 民乐县"
as_of=$(date -u +%Y-%m-%dT%H:%M:%SZ)
view 620000 evaluation show "$proposal" --as-of "$as_of"
view 620722 evaluation show "$proposal" --as-of "$as_of"
say "N个一 — 民乐县's members this year, at the province and at 张掖市"
view 620000 members activity --year "$year" --committee 620722
view 620700 members activity --year "$year" --committee 620722

say "Rules hold: a county cannot send down; a plan is final once published"
ctl 620722 append notice-issued --channel down --title "县级不能下发" || true
ctl 620700 append topic-commented --channel all --topic-id "$t_p" --text "计划已发布后的意见" || true

say "The topology: every node serving, connected, restored, no lag"
"$bin/linkctl" topology status --nodes "$work/nodes.json"

if [ -n "$keep" ]; then
  echo "demo finished; the topology keeps running in $work"
else
  say "Stopping everything"
  "$bin/linkctl" local down "$work"
  rm -f "$work/nodes.json"
  echo "demo finished"
fi
