//! 联通 as text: joint groups, one group with its sub-topics, late sub-topics.

use super::{count, listing, or_dash, section, unknown_note, TEXT, TITLE};
use crate::labels::{self, hlc_time, Names};
use crate::table::{fields, Table};
use linkage_core::pb;

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

    let mut moves = Table::new(&["task", "time", "from", "was", "due", "reason"]).limit(5, TITLE);
    for t in &g.tasks {
        let mut was = t.assigned_due.as_ref();
        for c in &t.due_changes {
            moves.row([
                t.task_id.clone(),
                hlc_time(c.hlc),
                names.show(&c.origin),
                labels::timestamp(was),
                labels::timestamp(c.due.as_ref()),
                c.reason.clone(),
            ]);
            was = c.due.as_ref();
        }
    }
    section(&mut out, "due dates moved 延期", &moves);

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
    super::disputes(&mut out, &g.disputed, &g.pending, names);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
