//! Readable output: tables of events and node status.

use linkage_core::pb;
use linkage_core::pb::payload::Kind;
use tonic_types::StatusExt;

/// The kind of a payload and a one-line gist of it.
pub fn gist(payload: Option<&pb::Payload>) -> (&'static str, String) {
    let Some(kind) = payload.and_then(|p| p.kind.as_ref()) else {
        return ("(unknown kind)", String::from("a payload this linkctl does not know"));
    };
    match kind {
        Kind::TopicProposed(m) => ("沟通 topic_proposed", format!("{} {}", m.year, m.title)),
        Kind::TopicCommented(m) => ("沟通 topic_commented", m.text.clone()),
        Kind::TopicLinked(m) => ("沟通 topic_linked", m.topic_ids.join(" = ")),
        Kind::TopicResponded(m) => ("沟通 topic_responded", m.topic_id.clone()),
        Kind::PlanPublished(m) => ("沟通 plan_published", format!("{} {}", m.year, m.title)),
        Kind::TopicClosed(m) => ("沟通 topic_closed", format!("{} {}", m.topic_id, crate::labels::outcome(m.outcome))),
        Kind::GroupFormed(m) => ("联通 group_formed", format!("{} {}", m.group_id, m.title)),
        Kind::GroupJoined(m) => ("联通 group_joined", format!("{} + {}", m.group_id, m.member)),
        Kind::GroupLeft(m) => ("联通 group_left", format!("{} - {}", m.group_id, m.member)),
        Kind::TaskAssigned(m) => ("联通 task_assigned", format!("{} → {}", m.title, m.assignee)),
        Kind::MilestoneReached(m) => ("联通 milestone_reached", m.title.clone()),
        Kind::ProgressReported(m) => ("联通 progress_reported", format!("{}/{} {}%", m.group_id, m.task_id, m.percent)),
        Kind::SubReportSubmitted(m) => ("联通 sub_report_submitted", m.title.clone()),
        Kind::ConsolidatedReportSubmitted(m) => ("联通 consolidated_report", m.title.clone()),
        Kind::VisitScheduled(m) => ("联通 visit_scheduled", m.title.clone()),
        Kind::TaskDueChanged(m) => ("联通 task_due_changed", format!("{}/{}: {}", m.group_id, m.task_id, m.reason)),
        Kind::InfoReported(m) => ("畅通 info_reported", m.title.clone()),
        Kind::InfoPublished(m) => ("畅通 info_published", m.info_id.clone()),
        Kind::InfoForwarded(m) => ("畅通 info_forwarded", format!("{} → {}", m.info_id, m.to)),
        Kind::InfoAdopted(m) => ("畅通 info_adopted", m.info_id.clone()),
        Kind::InfoInstructed(m) => ("畅通 info_instructed", m.leader.clone()),
        Kind::InfoFeedback(m) => ("畅通 info_feedback", m.text.clone()),
        Kind::InfoDeclined(m) => ("畅通 info_declined", format!("{}: {}", m.info_id, m.reason)),
        Kind::InfoMerged(m) => ("畅通 info_merged", format!("{} → {}", m.info_id, m.into_id)),
        Kind::ScoreRuleIssued(m) => ("畅通 score_rule_issued", m.title.clone()),
        Kind::MemberRegistered(m) => ("委员 member_registered", m.member_id.clone()),
        Kind::MemberUpdated(m) => ("委员 member_updated", m.member_id.clone()),
        Kind::MemberLeft(m) => ("委员 member_left", format!("{} {}", m.member_id, m.reason)),
        Kind::MemberErased(m) => ("委员 member_erased", m.member_id.clone()),
        Kind::MemberContributed(m) => ("委员 member_contributed", format!("{} {}", m.member_id, m.title)),
        Kind::MemberDutiesIssued(m) => ("委员 member_duties_issued", format!("{} {}", m.year, m.title)),
        Kind::NoticeIssued(m) => ("畅通 notice_issued", m.title.clone()),
        Kind::NoticeAcknowledged(m) => ("畅通 notice_acknowledged", m.notice_id.clone()),
        Kind::NoticeReminded(m) => ("畅通 notice_reminded", m.notice_id.clone()),
        Kind::ResearchCompleted(m) => ("互通 research_completed", m.title.clone()),
        Kind::ResultShared(m) => ("互通 result_shared", format!("{} → {}", m.result_id, m.audience)),
        Kind::ResultAdopted(m) => ("互通 result_adopted", m.how.clone()),
        Kind::ResultFeedback(m) => ("互通 result_feedback", m.text.clone()),
        Kind::ProposalSubmitted(m) => ("提案 proposal_submitted", format!("{} {}", m.year, m.title)),
        Kind::ProposalCoSigned(m) => ("提案 proposal_co_signed", m.proposal_id.clone()),
        Kind::ProposalSentUp(m) => ("提案 proposal_sent_up", m.proposal_id.clone()),
        Kind::ProposalReviewed(m) => ("提案 proposal_reviewed", format!("{} {}", m.proposal_id, m.number)),
        Kind::ProposalAssigned(m) => ("提案 proposal_assigned", format!("{} → {}", m.proposal_id, m.lead_unit)),
        Kind::ProposalObjected(m) => ("提案 proposal_objected", format!("{}: {}", m.unit, m.reason)),
        Kind::ProposalDeadlineExtended(m) => ("提案 proposal_deadline_extended", m.reason.clone()),
        Kind::ProposalContacted(m) => ("提案 proposal_contacted", format!("{}: {}", m.unit, m.text)),
        Kind::ProposalAnswered(m) => ("提案 proposal_answered", format!("{}: {}", m.unit, m.text)),
        Kind::ProposalRated(m) => ("提案 proposal_rated", format!("{} by {}", m.proposal_id, m.handler)),
        Kind::ProposalSupervised(m) => ("提案 proposal_supervised", m.by.clone()),
        Kind::ProposalReminded(m) => ("提案 proposal_reminded", m.unit.clone()),
        Kind::ProposalFollowedUp(m) => ("提案 proposal_followed_up", m.text.clone()),
        Kind::HolidayCalendarIssued(m) => ("提案 holiday_calendar_issued", m.year.to_string()),
        Kind::IndicatorSetIssued(m) => ("评价 indicator_set_issued", m.title.clone()),
        Kind::EvaluationRated(m) => ("评价 evaluation_rated", m.subject_id.clone()),
    }
}

/// One line per event, columns aligned by display width.
pub fn print_events(events: &[pb::StoredEvent]) {
    let mut t =
        crate::table::Table::new(&["pos", "origin", "channel", "seq", "kind", "gist"]).right(&[0, 3]).limit(5, 60);
    for stored in events {
        let Some(e) = &stored.event else { continue };
        let (kind, gist) = gist(e.payload.as_ref());
        t.row([stored.position.to_string(), e.origin.clone(), e.channel.clone(), e.seq.to_string(), kind.into(), gist]);
    }
    print!("{}", t.render());
    println!("({} events)", events.len());
}

/// Every envelope field of one event.
pub fn print_event_detail(stored: &pb::StoredEvent) {
    let Some(e) = &stored.event else { return };
    let (kind, gist) = gist(e.payload.as_ref());
    println!("id          {}", e.id);
    println!("position    {}", stored.position);
    println!("origin      {}", e.origin);
    println!("channel     {}", e.channel);
    println!("seq         {}", e.seq);
    println!("hlc         {}", e.hlc);
    println!("refs        {}", e.refs.join(", "));
    println!("kind        {kind}");
    println!("gist        {gist}");
    println!(
        "signed      {}",
        if e.signature.is_empty() { "by the chain (a later event of the stream)" } else { "yes" }
    );
}

/// The node's status.
pub fn print_status(s: &pb::StatusResponse) {
    let level = crate::labels::level(s.level);
    println!("node        {} {} ({level})", s.node, s.name);
    println!("parent      {}", if s.parent.is_empty() { "-" } else { &s.parent });
    println!("public key  {}", s.public_key);
    println!("events      {} (last position {})", s.events, s.last_position);
    println!(
        "store       {} bytes, {}",
        s.store_bytes,
        if s.writable { "writable" } else { "READ-ONLY after a storage error" }
    );
    println!("streams:");
    for h in &s.heads {
        println!("  {:<6} {:<14} seq {}", h.origin, h.channel, h.seq);
    }
}

/// A gRPC error as a readable message naming the field.
pub fn status_error(status: tonic::Status) -> anyhow::Error {
    let details = status.get_error_details();
    let fields: Vec<String> = details
        .bad_request()
        .map(|b| b.field_violations.iter().map(|v| format!("{}: {}", v.field, v.description)).collect())
        .unwrap_or_default();
    if fields.is_empty() {
        anyhow::anyhow!("{:?}: {}", status.code(), status.message())
    } else {
        anyhow::anyhow!("{:?}: {}", status.code(), fields.join("; "))
    }
}

/// Replication lag per stream.
pub fn print_replication(r: &pb::ReplicationResponse) {
    println!("restored {}  connected {}  rejected events {}", r.restored, r.connected, r.rejected_events);
    println!(
        "{:<6}  {:<22} {:>8} {:>8} {:>6} {:>8} {:>5} {:>8}",
        "origin", "channel", "local", "remote", "lag", "lag s", "pull", "buffered"
    );
    for s in &r.streams {
        // A head a peer claims but nobody proved: events are missing, how
        // many is not known.
        let lag = if s.missing_unproved { "?".to_string() } else { s.lag_events.to_string() };
        println!(
            "{:<6}  {:<22} {:>8} {:>8} {:>6} {:>8.1} {:>5} {:>8}",
            s.origin, s.channel, s.local_head, s.remote_head, lag, s.lag_seconds, s.pulls_in_flight, s.buffered_events
        );
    }
    for p in &r.peers {
        println!("peer {} last heard {:.1}s ago", p.node, p.seconds_since_contact);
    }
}
