//! Readable text for the four views: one table per listing, and a header
//! with sub-tables for one record. Pure functions of the records, the node
//! names and (for "overdue") the current time, so that they are testable.

use crate::labels::{self, hlc_time, Names};
use crate::table::{fields, Table};
use linkage_core::pb;

/// Widest a title may be in a listing (display columns).
const TITLE: usize = 48;
/// Widest a free text may be in a sub-table.
const TEXT: usize = 60;

fn count(n: usize) -> String {
    if n == 0 {
        "-".into()
    } else {
        n.to_string()
    }
}

fn or_dash(text: &str) -> String {
    if text.is_empty() {
        "-".into()
    } else {
        text.to_owned()
    }
}

/// A titled sub-table, indented, with `(none)` when empty.
fn section(out: &mut String, title: &str, table: &Table) {
    out.push_str(&format!("\n{title} ({})\n", table.len()));
    if table.is_empty() {
        out.push_str("  (none)\n");
        return;
    }
    for line in table.render().lines() {
        out.push_str("  ");
        out.push_str(line);
        out.push('\n');
    }
}

/// A listing's table; nothing, not even the header, without rows.
fn listing(t: &Table) -> String {
    if t.is_empty() {
        String::new()
    } else {
        t.render()
    }
}

/// `(3 topics)` (`(1 topic)`) and, when more pages exist, how to get the next one.
pub fn footer(n: usize, one: &str, many: &str, next_page_token: &str) -> String {
    let mut out = format!("({n} {})\n", if n == 1 { one } else { many });
    if !next_page_token.is_empty() {
        out.push_str(&format!("more: --page-token {next_page_token}\n"));
    }
    out
}

fn unknown_note(known: bool, what: &str) -> Option<(&'static str, String)> {
    (!known).then(|| ("note", format!("the event that creates this {what} has not arrived here yet")))
}

// ---------------------------------------------------------------- 沟通

/// Topics, one per row.
pub fn topics(topics: &[pb::Topic], names: &Names) -> String {
    let mut t = Table::new(&["id", "proposed", "origin", "year", "category", "status", "comments", "links", "title"])
        .right(&[3, 6, 7])
        .limit(8, TITLE);
    for topic in topics {
        t.row([
            topic.id.clone(),
            hlc_time(topic.hlc),
            names.show(&topic.origin),
            if topic.year == 0 { "-".into() } else { topic.year.to_string() },
            labels::category(topic.category),
            labels::topic_status(topic.status),
            count(topic.comments.len()),
            count(topic.linked_topic_ids.len()),
            topic.title.clone(),
        ]);
    }
    listing(&t)
}

/// One topic: header, then comments, participants, links and plans.
/// `linked` holds what is known of the linked topics (for their titles).
pub fn topic(topic: &pb::Topic, linked: &[pb::Topic], names: &Names) -> String {
    let mut header = vec![
        ("id", topic.id.clone()),
        ("title", topic.title.clone()),
        ("origin", names.show(&topic.origin)),
        ("channel", topic.channel.clone()),
        ("proposed", hlc_time(topic.hlc)),
        ("year", if topic.year == 0 { "-".into() } else { topic.year.to_string() }),
        ("category", labels::category(topic.category)),
        ("status", labels::topic_status(topic.status)),
        ("lead committee", topic.lead_committee.clone()),
        ("summary", topic.summary.clone()),
    ];
    header.extend(unknown_note(topic.known, "topic"));
    let mut out = fields(&header);

    let mut comments = Table::new(&["time", "from", "comment"]).limit(2, TEXT);
    for c in &topic.comments {
        comments.row([hlc_time(c.hlc), names.show(&c.origin), c.text.clone()]);
    }
    section(&mut out, "comments 意见", &comments);

    let mut participants = Table::new(&["node", "answer", "time", "note"]).limit(3, TEXT);
    for p in &topic.participants {
        participants.row([names.show(&p.node), labels::response(p.response), hlc_time(p.hlc), p.note.clone()]);
    }
    section(&mut out, "participants 参加", &participants);

    let mut links = Table::new(&["topic", "origin", "status", "title"]).limit(3, TITLE);
    for id in &topic.linked_topic_ids {
        match linked.iter().find(|l| &l.id == id) {
            Some(l) => links.row([id.clone(), names.show(&l.origin), labels::topic_status(l.status), l.title.clone()]),
            None => links.row([id.clone(), "?".into(), "?".into(), "(not held here)".into()]),
        }
    }
    section(&mut out, "linked topics 联动", &links);

    let mut plans = Table::new(&["plan event"]);
    for id in &topic.plan_ids {
        plans.row([id.clone()]);
    }
    section(&mut out, "in plans 年度计划", &plans);
    out
}

/// Candidate pairs: two rows per pair.
pub fn overlaps(overlaps: &[pb::TopicOverlap], names: &Names) -> String {
    let mut t = Table::new(&["pair", "similarity", "year", "category", "origin", "id", "title"])
        .right(&[0, 1, 2])
        .limit(6, TITLE);
    for (i, o) in overlaps.iter().enumerate() {
        for (j, topic) in [&o.first, &o.second].into_iter().enumerate() {
            let topic = topic.clone().unwrap_or_default();
            let (pair, similarity, year, category) = if j == 0 {
                (
                    (i + 1).to_string(),
                    format!("{:.2}", o.similarity),
                    if topic.year == 0 { "-".into() } else { topic.year.to_string() },
                    labels::category(topic.category),
                )
            } else {
                Default::default()
            };
            t.row([pair, similarity, year, category, names.show(&topic.origin), topic.id, topic.title]);
        }
    }
    listing(&t)
}

// ---------------------------------------------------------------- 联通

fn current_members(group: &pb::Group) -> usize {
    group.members.iter().filter(|m| m.joined).count()
}

/// Groups, one per row.
pub fn groups(groups: &[pb::Group], names: &Names) -> String {
    let mut t = Table::new(&["group", "formed", "lead", "members", "tasks", "sub-reports", "reports", "title"])
        .right(&[3, 4, 5, 6])
        .limit(7, TITLE);
    for g in groups {
        let sub_reports: usize = g.tasks.iter().map(|t| t.sub_reports.len()).sum();
        t.row([
            g.group_id.clone(),
            hlc_time(g.hlc),
            names.show(&g.lead),
            count(current_members(g)),
            count(g.tasks.len()),
            count(sub_reports),
            count(g.consolidated_reports.len()),
            g.title.clone(),
        ]);
    }
    listing(&t)
}

fn seconds(t: Option<&prost_types::Timestamp>) -> Option<i64> {
    t.map(|t| t.seconds)
}

/// 已交/done when a sub-report is in, 逾期/overdue when past due, else `-`.
fn task_state(task: &pb::Task, now_secs: i64) -> &'static str {
    if !task.sub_reports.is_empty() {
        "已交/done"
    } else if seconds(task.due.as_ref()).is_some_and(|due| due < now_secs) {
        "逾期/overdue"
    } else {
        "-"
    }
}

/// One group: header, then members, tasks, sub-reports, milestones,
/// consolidated reports and visits.
pub fn group(g: &pb::Group, names: &Names, now_secs: i64) -> String {
    let mut header = vec![
        ("group", g.group_id.clone()),
        ("title", g.title.clone()),
        ("lead", names.show(&g.lead)),
        ("formed", format!("{} by {}", hlc_time(g.hlc), names.show(&g.origin))),
        ("event", g.event_id.clone()),
        ("topics", g.topic_ids.join(", ")),
    ];
    header.extend(unknown_note(g.known, "group"));
    let mut out = fields(&header);

    let mut members = Table::new(&["node", "member", "since", "by"]);
    for m in &g.members {
        members.row([
            names.show(&m.node),
            if m.joined { "在组/yes".into() } else { "已退出/left".into() },
            hlc_time(m.hlc),
            names.show(&m.origin),
        ]);
    }
    section(&mut out, "members 成员", &members);

    let mut tasks = Table::new(&["task", "assignee", "due", "percent", "sub-reports", "state", "progress", "title"])
        .right(&[3, 4])
        .limit(6, 30)
        .limit(7, TITLE);
    for t in &g.tasks {
        tasks.row([
            t.task_id.clone(),
            names.show(&t.assignee),
            labels::timestamp(t.due.as_ref()),
            if t.progress_event_id.is_empty() { "-".into() } else { format!("{}%", t.percent) },
            count(t.sub_reports.len()),
            task_state(t, now_secs).into(),
            or_dash(&t.progress_text),
            if t.known { t.title.clone() } else { format!("{} (assignment not held here)", t.title) },
        ]);
    }
    section(&mut out, "tasks 子课题", &tasks);

    let mut sub_reports =
        Table::new(&["task", "time", "from", "id", "attachments", "title"]).right(&[4]).limit(5, TITLE);
    for t in &g.tasks {
        for r in &t.sub_reports {
            sub_reports.row([
                t.task_id.clone(),
                hlc_time(r.hlc),
                names.show(&r.origin),
                r.event_id.clone(),
                count(r.attachments.len()),
                r.title.clone(),
            ]);
        }
    }
    section(&mut out, "sub-reports 分报告", &sub_reports);

    let mut milestones = Table::new(&["time", "from", "task", "milestone"]).limit(3, TITLE);
    for m in &g.milestones {
        milestones.row([hlc_time(m.hlc), names.show(&m.origin), or_dash(&m.task_id), m.title.clone()]);
    }
    section(&mut out, "milestones 节点", &milestones);

    let mut reports = Table::new(&["time", "from", "id", "sub-reports", "title"]).right(&[3]).limit(4, TITLE);
    for r in &g.consolidated_reports {
        reports.row([
            hlc_time(r.hlc),
            names.show(&r.origin),
            r.event_id.clone(),
            count(r.sub_report_ids.len()),
            r.title.clone(),
        ]);
    }
    section(&mut out, "consolidated reports 总报告", &reports);

    let mut visits = Table::new(&["starts", "from", "places", "title"]).limit(2, TEXT).limit(3, TITLE);
    for v in &g.visits {
        visits.row([
            labels::timestamp(v.starts.as_ref()),
            names.show(&v.origin),
            if v.places.is_empty() { "-".into() } else { v.places.join("、") },
            v.title.clone(),
        ]);
    }
    section(&mut out, "visits 联动视察", &visits);
    out
}

/// Late sub-topics, one per row.
pub fn overdue(tasks: &[pb::OverdueTask], names: &Names) -> String {
    let mut t = Table::new(&["group", "task", "assignee", "due", "percent", "task title", "group title"])
        .right(&[4])
        .limit(5, 36)
        .limit(6, 36);
    for o in tasks {
        let task = o.task.clone().unwrap_or_default();
        t.row([
            o.group_id.clone(),
            task.task_id,
            names.show(&task.assignee),
            labels::timestamp(task.due.as_ref()),
            if task.progress_event_id.is_empty() { "-".into() } else { format!("{}%", task.percent) },
            task.title,
            o.group_title.clone(),
        ]);
    }
    listing(&t)
}

// ---------------------------------------------------------------- 畅通

fn adopted_levels(levels: &[i32]) -> String {
    if levels.is_empty() {
        return "-".into();
    }
    levels.iter().map(|l| labels::adoption_short(*l)).collect::<Vec<_>>().join(",")
}

/// 社情民意 items, one per row.
pub fn info_items(items: &[pb::InfoItem], names: &Names) -> String {
    let mut t = Table::new(&["id", "reported", "origin", "status", "adopted", "submitter", "title"])
        .limit(5, 20)
        .limit(6, TITLE);
    for i in items {
        t.row([
            i.id.clone(),
            hlc_time(i.hlc),
            names.show(&i.origin),
            labels::info_status(i.status),
            adopted_levels(&i.adopted_levels),
            or_dash(&i.submitter),
            i.title.clone(),
        ]);
    }
    listing(&t)
}

/// One item: header, then its trail.
pub fn info_item(item: &pb::InfoItem, score: u32, names: &Names) -> String {
    let mut header = vec![
        ("id", item.id.clone()),
        ("title", item.title.clone()),
        ("origin", names.show(&item.origin)),
        ("channel", item.channel.clone()),
        ("reported", hlc_time(item.hlc)),
        ("submitter", item.submitter.clone()),
        ("sector", item.sector.clone()),
        ("status", labels::info_status(item.status)),
        ("adopted", item.adopted_levels.iter().map(|l| labels::adoption(*l)).collect::<Vec<_>>().join(", ")),
        ("score", score.to_string()),
        ("body", item.body.clone()),
    ];
    header.extend(unknown_note(item.known, "item"));
    let mut out = fields(&header);
    let mut trail = Table::new(&["time", "by", "step", "detail", "text"]).limit(3, 30).limit(4, TEXT);
    for e in &item.trail {
        trail.row([
            hlc_time(e.hlc),
            names.show(&e.origin),
            labels::trail_step(e.step, e.level),
            or_dash(&e.detail),
            or_dash(&e.text),
        ]);
    }
    section(&mut out, "trail 流转", &trail);
    out
}

/// Counts and scores per submitting committee, then the score table.
pub fn statistics(s: &pb::GetInfoStatisticsResponse, names: &Names) -> String {
    let mut t = Table::new(&[
        "node",
        "submitted 报送",
        "published 编发",
        "forwarded 转报",
        "县级",
        "市级",
        "省级",
        "全国",
        "instructed 批示",
        "score 得分",
    ])
    .right(&[1, 2, 3, 4, 5, 6, 7, 8, 9]);
    let mut total = pb::InfoStatistics { node: "total".into(), ..Default::default() };
    for r in &s.rows {
        t.row([
            names.show(&r.node),
            r.submitted.to_string(),
            r.published.to_string(),
            r.forwarded.to_string(),
            r.adopted_county.to_string(),
            r.adopted_city.to_string(),
            r.adopted_province.to_string(),
            r.adopted_national.to_string(),
            r.instructed.to_string(),
            r.score.to_string(),
        ]);
        total.submitted += r.submitted;
        total.published += r.published;
        total.forwarded += r.forwarded;
        total.adopted_county += r.adopted_county;
        total.adopted_city += r.adopted_city;
        total.adopted_province += r.adopted_province;
        total.adopted_national += r.adopted_national;
        total.instructed += r.instructed;
        total.score += r.score;
    }
    if s.rows.len() > 1 {
        t.row([
            "total 合计".to_owned(),
            total.submitted.to_string(),
            total.published.to_string(),
            total.forwarded.to_string(),
            total.adopted_county.to_string(),
            total.adopted_city.to_string(),
            total.adopted_province.to_string(),
            total.adopted_national.to_string(),
            total.instructed.to_string(),
            total.score.to_string(),
        ]);
    }
    let mut out = t.render();
    if let Some(table) = &s.score_table {
        out.push_str(&format!(
            "score table 计分: 县级 {} · 市级 {} · 省级 {} · 全国 {} · 批示 +{}\n",
            table.county, table.city, table.province, table.national, table.instruction_bonus
        ));
    }
    out
}

/// Notices, one per row.
pub fn notices(notices: &[pb::NoticeState], names: &Names) -> String {
    let mut t = Table::new(&["id", "issued", "origin", "ack", "acknowledged", "missing", "title"])
        .right(&[4, 5])
        .limit(6, TITLE);
    for n in notices {
        let notice = n.notice.clone().unwrap_or_default();
        t.row([
            notice.id,
            hlc_time(notice.hlc),
            names.show(&notice.origin),
            if notice.requires_acknowledgement { "required".into() } else { "-".into() },
            n.acknowledged.len().to_string(),
            if notice.requires_acknowledgement { n.not_acknowledged.len().to_string() } else { "-".into() },
            notice.title,
        ]);
    }
    listing(&t)
}

/// One notice: header, who acknowledged, who has not.
pub fn notice(state: &pb::NoticeState, names: &Names) -> String {
    let n = state.notice.clone().unwrap_or_default();
    let mut header = vec![
        ("id", n.id.clone()),
        ("title", n.title.clone()),
        ("origin", names.show(&n.origin)),
        ("channel", n.channel.clone()),
        ("issued", hlc_time(n.hlc)),
        ("acknowledgement", if n.requires_acknowledgement { "required 须签收".into() } else { "not required".into() }),
        ("body", n.body.clone()),
    ];
    header.extend(unknown_note(n.known, "notice"));
    let mut out = fields(&header);
    let mut acked = Table::new(&["node", "time", "event"]);
    for code in &state.acknowledged {
        match n.acknowledgements.iter().find(|a| &a.node == code) {
            Some(a) => acked.row([names.show(code), hlc_time(a.hlc), a.event_id.clone()]),
            None => acked.row([names.show(code), "-".into(), "-".into()]),
        }
    }
    // Acknowledgements from committees outside the recipients still count as held.
    for a in n.acknowledgements.iter().filter(|a| !state.acknowledged.contains(&a.node)) {
        acked.row([format!("{} (not a recipient)", names.show(&a.node)), hlc_time(a.hlc), a.event_id.clone()]);
    }
    section(&mut out, "acknowledged 已签收", &acked);
    let mut missing = Table::new(&["node"]);
    for code in &state.not_acknowledged {
        missing.row([names.show(code)]);
    }
    section(&mut out, "not acknowledged 未签收", &missing);
    out
}

// ---------------------------------------------------------------- 互通

/// Results, one per row.
pub fn results(results: &[pb::Result], names: &Names) -> String {
    let mut t =
        Table::new(&["id", "completed", "origin", "year", "category", "shares", "adoptions", "feedback", "title"])
            .right(&[3, 5, 6, 7])
            .limit(8, TITLE);
    for r in results {
        t.row([
            r.id.clone(),
            hlc_time(r.hlc),
            names.show(&r.origin),
            if r.year == 0 { "-".into() } else { r.year.to_string() },
            labels::category(r.category),
            count(r.shares.len()),
            count(r.adoptions.len()),
            count(r.feedback.len()),
            r.title.clone(),
        ]);
    }
    listing(&t)
}

/// One result: header, shares, adoptions, feedback.
pub fn result(r: &pb::Result, names: &Names) -> String {
    let mut header = vec![
        ("id", r.id.clone()),
        ("title", r.title.clone()),
        ("origin", names.show(&r.origin)),
        ("channel", r.channel.clone()),
        ("completed", hlc_time(r.hlc)),
        ("year", if r.year == 0 { "-".into() } else { r.year.to_string() }),
        ("category", labels::category(r.category)),
        ("group", r.group_id.clone()),
        ("attachments", r.attachments.join("\n")),
        ("summary", r.summary.clone()),
    ];
    header.extend(unknown_note(r.known, "result"));
    let mut out = fields(&header);
    let mut shares = Table::new(&["time", "by", "audience"]);
    for s in &r.shares {
        shares.row([hlc_time(s.hlc), names.show(&s.origin), s.audience.clone()]);
    }
    section(&mut out, "shares 共享", &shares);
    let mut adoptions = Table::new(&["time", "recorded by", "adopted by", "how"]).limit(2, 30).limit(3, TEXT);
    for a in &r.adoptions {
        adoptions.row([hlc_time(a.hlc), names.show(&a.origin), or_dash(&a.by), a.how.clone()]);
    }
    section(&mut out, "adoptions 转化运用", &adoptions);
    let mut feedback = Table::new(&["time", "from", "feedback"]).limit(2, TEXT);
    for f in &r.feedback {
        feedback.row([hlc_time(f.hlc), names.show(&f.origin), f.text.clone()]);
    }
    section(&mut out, "feedback 跟踪反馈", &feedback);
    out
}

// ---------------------------------------------------------------- watch

/// One view change as a line.
pub fn change(c: &pb::ViewChange) -> String {
    format!("{:>8}  {:<30} {}  {}", c.position, c.kind, c.event_id, c.entity_ids.join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hlc(ms: u64) -> u64 {
        ms << 16
    }

    #[test]
    fn a_topic_shows_names_labels_and_sub_tables() {
        let names = Names::one("620700", "张掖市");
        let topic = pb::Topic {
            id: "t1".into(),
            origin: "620700".into(),
            channel: "up".into(),
            hlc: hlc(1_795_770_330_123),
            year: 2027,
            category: pb::TopicCategory::Research as i32,
            title: "河西走廊节水农业发展调研".into(),
            status: pb::TopicStatus::Linked as i32,
            comments: vec![pb::Note {
                event_id: "c1".into(),
                origin: "620000".into(),
                hlc: hlc(1_795_770_390_000),
                text: "建议合并".into(),
            }],
            linked_topic_ids: vec!["t2".into(), "t3".into()],
            known: true,
            ..Default::default()
        };
        let linked =
            [pb::Topic { id: "t2".into(), origin: "620600".into(), title: "石羊河".into(), ..Default::default() }];
        let text = super::topic(&topic, &linked, &names);
        assert!(text.contains("origin          张掖市 620700\n"), "{text}");
        assert!(text.contains("status          已联动/linked\n"), "{text}");
        assert!(text.contains("proposed        2026-11-27 09:05\n"), "{text}");
        assert!(
            text.contains(
                "\ncomments 意见 (1)\n  time              from    comment\n  2026-11-27 09:06  620000  建议合并\n"
            ),
            "{text}"
        );
        assert!(text.contains("participants 参加 (0)\n  (none)\n"), "{text}");
        assert!(text.contains("  t2     620600  -       石羊河\n"), "{text}");
        assert!(text.contains("  t3     ?       ?       (not held here)\n"), "{text}");
        assert!(!text.contains("note"), "a known topic has no note");
    }

    #[test]
    fn a_group_shows_tasks_with_state() {
        let due = |s| Some(prost_types::Timestamp { seconds: s, nanos: 0 });
        let g = pb::Group {
            group_id: "hexi".into(),
            title: "河西走廊节水农业联动调研组".into(),
            lead: "620000".into(),
            origin: "620000".into(),
            members: vec![
                pb::Member { node: "620722".into(), joined: true, ..Default::default() },
                pb::Member { node: "620622".into(), joined: false, ..Default::default() },
            ],
            tasks: vec![
                pb::Task {
                    task_id: "minle".into(),
                    title: "民乐县子课题".into(),
                    assignee: "620722".into(),
                    due: due(1_000),
                    percent: 50,
                    progress_event_id: "p".into(),
                    progress_text: "走访三个乡镇".into(),
                    known: true,
                    ..Default::default()
                },
                pb::Task {
                    task_id: "gulang".into(),
                    title: "古浪县子课题".into(),
                    assignee: "620622".into(),
                    due: due(1_000),
                    sub_reports: vec![pb::Report {
                        event_id: "r".into(),
                        title: "分报告".into(),
                        ..Default::default()
                    }],
                    known: true,
                    ..Default::default()
                },
            ],
            known: false,
            ..Default::default()
        };
        let names = Names::one("620722", "民乐县");
        let text = group(&g, &names, 2_000);
        assert!(text.contains("note    the event that creates this group has not arrived here yet"), "{text}");
        assert!(text.contains("  民乐县 620722  在组/yes"), "{text}");
        assert!(text.contains("  620622         已退出/left"), "{text}");
        let minle = text.lines().find(|l| l.trim_start().starts_with("minle")).unwrap();
        assert!(
            minle.contains("50%") && minle.contains("逾期/overdue") && minle.contains("1970-01-01 00:16"),
            "{minle}"
        );
        let gulang = text.lines().find(|l| l.trim_start().starts_with("gulang ")).unwrap();
        assert!(gulang.contains("已交/done"), "{gulang}");
        assert!(text.contains("sub-reports 分报告 (1)"), "{text}");
    }

    #[test]
    fn an_item_trail_names_the_adoption_level() {
        let item = pb::InfoItem {
            id: "i".into(),
            origin: "620722".into(),
            title: "饮水安全".into(),
            status: pb::InfoStatus::Adopted as i32,
            adopted_levels: vec![pb::AdoptionLevel::City as i32, pb::AdoptionLevel::Province as i32],
            trail: vec![
                pb::TrailEntry {
                    origin: "620700".into(),
                    step: pb::InfoStatus::Forwarded as i32,
                    detail: "甘肃省政协".into(),
                    ..Default::default()
                },
                pb::TrailEntry {
                    origin: "620000".into(),
                    step: pb::InfoStatus::Adopted as i32,
                    level: pb::AdoptionLevel::Province as i32,
                    ..Default::default()
                },
            ],
            known: true,
            ..Default::default()
        };
        let text = info_item(&item, 5, &Names::default());
        assert!(text.contains("adopted    市级/city, 省级/province\n"), "{text}");
        assert!(text.contains("score      5\n"), "{text}");
        assert!(text.contains("已转报/forwarded  甘肃省政协"), "{text}");
        assert!(text.contains("采用:省级"), "{text}");
    }

    #[test]
    fn a_notice_lists_who_is_missing() {
        let state = pb::NoticeState {
            notice: Some(pb::Notice {
                id: "n".into(),
                title: "通知".into(),
                requires_acknowledgement: true,
                acknowledgements: vec![pb::Acknowledgement { node: "620700".into(), event_id: "a".into(), hlc: 0 }],
                known: true,
                ..Default::default()
            }),
            acknowledged: vec!["620700".into()],
            not_acknowledged: vec!["620600".into(), "620722".into()],
        };
        let names = Names::one("620600", "武威市");
        let text = notice(&state, &names);
        assert!(text.contains("acknowledged 已签收 (1)\n  node    time  event\n  620700  -     a\n"), "{text}");
        assert!(text.contains("not acknowledged 未签收 (2)\n  node\n  武威市 620600\n  620722\n"), "{text}");
        let list = notices(std::slice::from_ref(&state), &names);
        assert!(list.lines().nth(1).unwrap().contains("required             1        2  通知"), "{list}");
    }

    #[test]
    fn statistics_add_a_total() {
        let s = pb::GetInfoStatisticsResponse {
            rows: vec![
                pb::InfoStatistics {
                    node: "620700".into(),
                    submitted: 3,
                    adopted_province: 1,
                    score: 5,
                    ..Default::default()
                },
                pb::InfoStatistics { node: "620722".into(), submitted: 2, score: 1, ..Default::default() },
            ],
            score_table: Some(pb::ScoreTable { county: 1, city: 2, province: 5, national: 20, instruction_bonus: 3 }),
        };
        let text = statistics(&s, &Names::default());
        let total = text.lines().find(|l| l.starts_with("total 合计")).expect(&text);
        assert!(total.ends_with(" 6"), "{total}");
        assert!(text.contains("全国 20 · 批示 +3"), "{text}");
    }
}
