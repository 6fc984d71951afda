//! 沟通 as text: topics, one topic with its comments and links, overlaps.

use super::{count, listing, section, unknown_note, TEXT, TITLE};
use crate::labels::{self, hlc_time, Names};
use crate::table::{fields, Table};
use linkage_core::pb;

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
    if let Some(closed) = &topic.closed {
        header.push(("closed", format!("{} {}", labels::outcome(topic.outcome), hlc_time(closed.hlc))));
        if !topic.into_topic_id.is_empty() {
            header.push(("merged into", topic.into_topic_id.clone()));
        }
        header.push(("why", closed.text.clone()));
    }
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
    super::disputes(&mut out, &topic.disputed, &[], names);
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
}
