//! 畅通 as text: 社情民意 items, their trail and statistics; notices.

use super::{listing, or_dash, section, unknown_note, TEXT, TITLE};
use crate::labels::{self, hlc_time, Names};
use crate::table::{fields, Table};
use linkage_core::pb;

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
    let mut levels =
        Table::new(&["level", "by", "state", "published", "forwarded", "adopted", "批示", "feedback", "note"])
            .limit(8, TEXT);
    for r in &item.levels {
        let yes = |b: bool| if b { "yes" } else { "-" }.to_string();
        let adopted = match (r.adopted, r.combined) {
            (true, true) => "综合/combined".into(),
            (true, false) => "单篇/single".into(),
            _ => "-".into(),
        };
        let instructed = if r.instructions == 0 {
            "-".into()
        } else {
            format!("{} ({})", r.instructions, labels::rank(r.highest_rank))
        };
        let note = if r.merged_into.is_empty() { r.reason.clone() } else { format!("→ {}", r.merged_into) };
        levels.row([
            labels::adoption_short(r.level),
            names.show(&r.node),
            labels::handling_state(r.state),
            match (r.published, r.issue.is_empty()) {
                (false, _) => "-".into(),
                (true, true) => "yes".into(),
                (true, false) => r.issue.clone(),
            },
            yes(r.forwarded),
            adopted,
            instructed,
            yes(r.feedback),
            or_dash(&note),
        ]);
    }
    section(&mut out, "levels 各级办理", &levels);
    if !item.merges.is_empty() {
        out.push_str(&format!("merges 综合了: {}\n", item.merges.join(", ")));
    }
    super::disputes(&mut out, &item.disputed, &[], names);
    out
}

/// Committees ranked by points, then the rules that applied.
pub fn ranking(r: &pb::GetInfoRankingResponse, names: &Names) -> String {
    let mut t = Table::new(&["rank 名次", "node", "points 得分", "adoptions 采用", "批示", "forwarding 转报"])
        .right(&[0, 2, 3, 4, 5]);
    for row in &r.rows {
        t.row([
            row.rank.to_string(),
            names.show(&row.node),
            row.points.to_string(),
            row.adoptions.to_string(),
            row.instructions.to_string(),
            row.forward_points.to_string(),
        ]);
    }
    let mut out = t.render();
    if r.rules.is_empty() {
        out.push_str("no score rule is held here: the province issues one (linkctl append score-rule-issued)\n");
    } else {
        out.push_str(&format!("score rules 计分办法: {}\n", r.rules.join(", ")));
    }
    out
}

/// The province's score rules, one per row.
pub fn score_rules(rules: &[pb::ScoreRule], names: &Names) -> String {
    let mut t =
        Table::new(&["id", "by", "effective", "adoption", "combined", "deputy", "principal", "forward", "title"])
            .limit(8, TITLE);
    let list =
        |l: &[u32]| if l.is_empty() { "-".into() } else { l.iter().map(u32::to_string).collect::<Vec<_>>().join(",") };
    for r in rules {
        let rule = r.rule.clone().unwrap_or_default();
        t.row([
            r.id.clone(),
            names.show(&r.origin),
            labels::timestamp(rule.effective.as_ref()),
            list(&rule.adoption_points),
            format!("{}%", rule.combined_percent),
            list(&rule.deputy_instruction_points),
            list(&rule.principal_instruction_points),
            format!("{}%", rule.forward_credit_percent),
            or_dash(&rule.title),
        ]);
    }
    listing(&t)
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
    out.push_str("score 得分: by the province's score rules (linkctl exchange score-rules)\n");
    out
}

/// Notices, one per row.
pub fn notices(notices: &[pb::NoticeState], names: &Names) -> String {
    let mut t = Table::new(&[
        "id",
        "issued",
        "origin",
        "ack",
        "acknowledged",
        "missing",
        "due",
        "returned",
        "overdue",
        "title",
    ])
    .right(&[4, 5, 7, 8])
    .limit(9, TITLE);
    for n in notices {
        let notice = n.notice.clone().unwrap_or_default();
        let expects = notice.expects != pb::NoticeReturn::Unspecified as i32;
        let returned = n.recipients.iter().filter(|r| r.returns > 0).count();
        let overdue = n.recipients.iter().filter(|r| r.overdue).count();
        t.row([
            notice.id,
            hlc_time(notice.hlc),
            names.show(&notice.origin),
            if notice.requires_acknowledgement { "required".into() } else { "-".into() },
            n.acknowledged.len().to_string(),
            if notice.requires_acknowledgement { n.not_acknowledged.len().to_string() } else { "-".into() },
            if expects { labels::timestamp(notice.due.as_ref()) } else { "-".into() },
            if expects { returned.to_string() } else { "-".into() },
            if expects { overdue.to_string() } else { "-".into() },
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
        ("expects", labels::notice_return(n.expects)),
        ("due", if n.due.is_some() { labels::timestamp(n.due.as_ref()) } else { "-".into() }),
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
    if n.expects != pb::NoticeReturn::Unspecified as i32 {
        let mut returns = Table::new(&["node", "returned", "reminded", "state"]).right(&[1, 2]);
        for r in &state.recipients {
            let shown = if r.returns > 0 {
                "returned 已报送"
            } else if r.overdue {
                "overdue 逾期"
            } else {
                "waiting 待报送"
            };
            returns.row([names.show(&r.node), r.returns.to_string(), r.reminders.to_string(), shown.into()]);
        }
        section(&mut out, "returns 报送", &returns);
        let mut replies = Table::new(&["time", "from", "kind", "event"]);
        for r in &n.replies {
            replies.row([hlc_time(r.hlc), names.show(&r.origin), r.kind.clone(), r.event_id.clone()]);
        }
        section(&mut out, "replies 回复", &replies);
        let mut reminders = Table::new(&["time", "to", "note"]).limit(2, TEXT);
        for r in &n.reminders {
            let to = if r.to.is_empty() {
                "all without a return".into()
            } else {
                r.to.iter().map(|c| names.show(c)).collect::<Vec<_>>().join("、")
            };
            reminders.row([hlc_time(r.hlc), to, or_dash(&r.note)]);
        }
        section(&mut out, "reminders 催办", &reminders);
    }
    super::disputes(&mut out, &n.disputed, &[], names);
    out
}

// ---------------------------------------------------------------- 互通

#[cfg(test)]
mod tests {
    use super::*;

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
        assert!(!text.contains("disputed"), "{text}");
        let disputed = pb::Disputed {
            event_id: "e".into(),
            origin: "620722".into(),
            rule: "adoption_not_own_level".into(),
            kind: "info_adopted".into(),
            ..Default::default()
        };
        let text = info_item(&pb::InfoItem { disputed: vec![disputed], ..item }, 5, &Names::default());
        assert!(text.contains("disputed 存疑 (changed nothing) (1)"), "{text}");
        assert!(text.contains("info_adopted  adoption_not_own_level"), "{text}");
    }

    #[test]
    fn a_notice_lists_who_is_missing() {
        let state = pb::NoticeState {
            recipients: Vec::new(),
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
        assert!(
            list.lines().nth(1).unwrap().contains("required             1        2  -           -        -  通知"),
            "{list}"
        );
        // A 征集 notice: who returned, who is overdue, who was reminded.
        let mut state = state;
        let n = state.notice.as_mut().unwrap();
        n.expects = pb::NoticeReturn::Topics as i32;
        n.due = Some(prost_types::Timestamp { seconds: 1_700_000_000, nanos: 0 });
        state.recipients = vec![
            pb::RecipientState { node: "620600".into(), overdue: true, reminders: 1, ..Default::default() },
            pb::RecipientState { node: "620700".into(), returns: 1, ..Default::default() },
        ];
        let text = notice(&state, &names);
        assert!(text.contains("returns 报送 (2)"), "{text}");
        assert!(text.contains("武威市 620600         0         1  overdue 逾期"), "{text}");
        assert!(text.contains("620700                1         0  returned 已报送"), "{text}");
        let list = notices(std::slice::from_ref(&state), &names);
        assert!(list.lines().nth(1).unwrap().contains("  1        1  通知"), "{list}");
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
            score_table: None,
        };
        let text = statistics(&s, &Names::default());
        let total = text.lines().find(|l| l.starts_with("total 合计")).expect(&text);
        assert!(total.ends_with(" 6"), "{total}");
        assert!(text.contains("by the province's score rules"), "{text}");
    }
}
