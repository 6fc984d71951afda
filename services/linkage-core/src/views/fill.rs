//! The long texts records leave in the log, copied back from the event
//! that carries them when one record is asked for: a topic's summary, an
//! item's or a notice's body, a result's summary and attachments, a
//! report's summary and attachments.

use crate::pb;
use crate::pb::payload::Kind;
fn kind_of(event: &pb::Event) -> Option<&Kind> {
    event.payload.as_ref()?.kind.as_ref()
}

/// From the `TopicProposed` event.
pub fn topic(t: &mut pb::Topic, event: &pb::Event) {
    if let Some(Kind::TopicProposed(m)) = kind_of(event) {
        t.summary.clone_from(&m.summary);
    }
}

/// From the `InfoReported` event.
pub fn info(i: &mut pb::InfoItem, event: &pb::Event) {
    if let Some(Kind::InfoReported(m)) = kind_of(event) {
        i.body.clone_from(&m.body);
    }
}

/// From the `ProposalSubmitted` event.
pub fn proposal(p: &mut pb::Proposal, event: &pb::Event) {
    if let Some(Kind::ProposalSubmitted(m)) = kind_of(event) {
        p.body.clone_from(&m.body);
        p.documents.clone_from(&m.documents);
    }
}

/// An answer's documents, from the `ProposalAnswered` event.
pub fn answer(entry: &mut pb::ProposalTrailEntry, event: &pb::Event) {
    if let Some(Kind::ProposalAnswered(m)) = kind_of(event) {
        entry.documents.clone_from(&m.documents);
    }
}

/// From the `NoticeIssued` event.
pub fn notice(n: &mut pb::Notice, event: &pb::Event) {
    if let Some(Kind::NoticeIssued(m)) = kind_of(event) {
        n.body.clone_from(&m.body);
    }
}

/// From the `ResearchCompleted` event.
pub fn result(r: &mut pb::Result, event: &pb::Event) {
    if let Some(Kind::ResearchCompleted(m)) = kind_of(event) {
        r.summary.clone_from(&m.summary);
        r.attachments.clone_from(&m.attachments);
    }
}

/// From the `SubReportSubmitted` or `ConsolidatedReportSubmitted` event.
pub fn report(r: &mut pb::Report, event: &pb::Event) {
    match kind_of(event) {
        Some(Kind::SubReportSubmitted(m)) => {
            r.summary.clone_from(&m.summary);
            r.attachments.clone_from(&m.attachments);
        }
        Some(Kind::ConsolidatedReportSubmitted(m)) => r.summary.clone_from(&m.summary),
        _ => {}
    }
}
